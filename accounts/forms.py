"""Forms of the accounts pages."""

from __future__ import annotations

from django import forms

from accounts.models import Membership, Role


class MemberRoleForm(forms.ModelForm[Membership]):
    """Change a member's role."""

    class Meta:
        model = Membership
        fields = ["role"]


class MemberInviteForm(forms.Form):
    """Add a member: an existing username, or a new account with its e-mail address."""

    username = forms.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    email = forms.EmailField(required=False, label="E-mail (for a new account)")
    role = forms.ChoiceField(choices=Role.choices)
