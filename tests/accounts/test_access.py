"""Workspace isolation and roles, in the UI and the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from accounts.models import Membership, Role

pytestmark = pytest.mark.django_db


def test_login_page_renders_for_anonymous_user(client):
    # when
    response = client.get("/accounts/login/")
    # then
    assert response.status_code == 200
    assert b"Log in to Typewire" in response.content


def test_pages_redirect_anonymous_user_to_login(client):
    # when
    response = client.get("/settings/members/".replace("/settings", "/accounts/settings"))
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_home_shows_the_users_role(client, marketer):
    # given
    client.force_login(marketer)
    # when
    response = client.get("/")
    # then
    assert response.status_code == 200
    assert b"Marketer" in response.content
    assert b"Acme Store" in response.content


def test_token_endpoint_exchanges_credentials_for_a_token(client, marketer):
    # when
    response = client.post("/api/v1/auth/token/", {"username": "mia", "password": "pw"})
    # then
    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=marketer).key}


def test_token_endpoint_rejects_a_wrong_password_with_400(client, marketer):
    # when
    response = client.post("/api/v1/auth/token/", {"username": "mia", "password": "nope"})
    # then
    assert response.status_code == 400
    assert "Unable to log in" in str(response.json())
    assert not Token.objects.exists()


def test_api_without_credentials_answers_401(client, marketer):
    # when
    response = client.get("/api/v1/members/")
    # then
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


# --- workspace isolation --------------------------------------------------------------------


def test_ui_answers_404_for_another_workspaces_member(client, admin, outsider):
    # given an admin of Acme, and a member of Globex
    foreign = Membership.objects.get(user=outsider)
    client.force_login(admin)
    # when
    response = client.get(f"/accounts/settings/members/{foreign.pk}/")
    # then
    assert response.status_code == 404


def test_ui_post_to_another_workspaces_member_is_404_and_changes_nothing(client, admin, outsider):
    # given
    foreign = Membership.objects.get(user=outsider)
    client.force_login(admin)
    # when
    response = client.post(f"/accounts/settings/members/{foreign.pk}/", {"role": Role.AUDITOR})
    # then
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.ADMIN


def test_api_answers_404_for_another_workspaces_member(api_client_for, admin, outsider):
    # given
    foreign = Membership.objects.get(user=outsider)
    api = api_client_for(admin)
    # when
    detail = api.get(f"/api/v1/members/{foreign.pk}/")
    listing = api.get("/api/v1/members/")
    # then
    assert detail.status_code == 404
    assert [m["username"] for m in listing.json()["results"]] == ["ada"]


def test_api_names_the_workspace_with_x_workspace_header(api_client_for, admin, other_workspace):
    # given ada is admin of Acme and auditor of Globex
    Membership.objects.create(user=admin, workspace=other_workspace, role=Role.AUDITOR)
    api = api_client_for(admin)
    # when
    unnamed = api.get("/api/v1/members/")
    acme = api.get("/api/v1/members/", HTTP_X_WORKSPACE="acme")
    globex = api.get("/api/v1/members/", HTTP_X_WORKSPACE="globex")
    unknown = api.get("/api/v1/members/", HTTP_X_WORKSPACE="initech")
    # then
    assert unnamed.status_code == 400
    assert unnamed.json()["error"] == "workspace_required"
    assert acme.status_code == 200
    assert globex.status_code == 200
    assert unknown.status_code == 404
    me = Membership.objects.get(user=admin, workspace=other_workspace)
    patch = api.patch(
        f"/api/v1/members/{me.pk}/", {"role": Role.ADMIN}, format="json", HTTP_X_WORKSPACE="globex"
    )
    assert patch.status_code == 403  # an auditor in Globex changes nothing there


def test_workspaces_api_lists_only_the_callers_workspaces(api_client_for, marketer, outsider):
    # when
    response = api_client_for(marketer).get("/api/v1/workspaces/")
    # then
    assert response.status_code == 200
    assert response.json() == [
        {"slug": "acme", "name": "Acme Store", "plan": "pro", "role": "marketer"}
    ]


def test_workspace_switcher_refuses_a_workspace_the_user_is_not_in(
    client, marketer, other_workspace
):
    # given
    client.force_login(marketer)
    # when
    response = client.post("/accounts/workspace/", {"workspace": "globex"})
    # then
    assert response.status_code == 404


def test_workspace_switcher_changes_the_current_workspace(client, marketer, other_workspace):
    # given
    Membership.objects.create(user=marketer, workspace=other_workspace, role=Role.AUDITOR)
    client.force_login(marketer)
    # when
    response = client.post("/accounts/workspace/", {"workspace": "globex"})
    home = client.get("/")
    # then
    assert response.status_code == 302
    assert b"Globex" in home.content
    assert b"Auditor" in home.content


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/accounts/settings/members/"])
def test_marketer_cannot_open_admin_pages(client, marketer, url):
    # given
    client.force_login(marketer)
    # when
    response = client.get(url)
    # then
    assert response.status_code == 403


def test_marketer_cannot_use_the_admin_api(api_client_for, marketer):
    # when
    response = api_client_for(marketer).get("/api/v1/members/")
    # then
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("_case", "role", "expected"),
    [("admin reads", Role.ADMIN, 200), ("auditor reads", Role.AUDITOR, 200)],
)
def test_admin_area_is_readable_by_admins_and_auditors(client, workspace, _case, role, expected):
    # given
    user = User.objects.create_user("u", password="pw")
    Membership.objects.create(user=user, workspace=workspace, role=role)
    client.force_login(user)
    # when
    response = client.get("/accounts/settings/members/")
    # then
    assert response.status_code == expected


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_auditor_gets_403_on_every_unsafe_method_in_the_api(api_client_for, auditor, method):
    # given
    me = Membership.objects.get(user=auditor)
    api = api_client_for(auditor)
    # when
    response = getattr(api, method)(
        f"/api/v1/members/{me.pk}/", {"role": Role.ADMIN}, format="json"
    )
    # then
    assert response.status_code == 403
    me.refresh_from_db()
    assert me.role == Role.AUDITOR


def test_auditor_gets_403_when_posting_a_page_form(client, auditor, admin):
    # given
    target = Membership.objects.get(user=admin)
    client.force_login(auditor)
    # when
    page = client.get(f"/accounts/settings/members/{target.pk}/")
    response = client.post(f"/accounts/settings/members/{target.pk}/", {"role": Role.AUDITOR})
    # then
    assert page.status_code == 200
    assert b"Save role" not in page.content  # no button that changes anything
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.role == Role.ADMIN


def test_admin_changes_a_members_role(client, admin, marketer):
    # given
    target = Membership.objects.get(user=marketer)
    client.force_login(admin)
    # when
    response = client.post(f"/accounts/settings/members/{target.pk}/", {"role": Role.AUDITOR})
    # then
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.AUDITOR
