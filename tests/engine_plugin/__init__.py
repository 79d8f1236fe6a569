"""A test-only plug-in: actions that fail, retry, or take their time, for the engine's tests.

Worker subprocesses load it with ``TYPEWIRE_PLUGIN_APPS=tests.engine_plugin``; the test process
registers the same actions for a test with the ``engine_plugin`` fixture.
"""
