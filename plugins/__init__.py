"""Plug-in apps that extend Typewire's catalog through the custom action SDK."""
