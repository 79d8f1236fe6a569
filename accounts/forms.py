"""Forms of the accounts pages."""

from __future__ import annotations

from django import forms

from accounts.models import Membership


class MemberRoleForm(forms.ModelForm[Membership]):
    """Change a member's role."""

    class Meta:
        model = Membership
        fields = ["role"]
