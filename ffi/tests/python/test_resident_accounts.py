"""A clerk opens a resident's account from the tablet app (through the Python binding), against a
real bianmin-server: the code the app shows activates the account on the resident's phone
(the hub's /resident/activate over plain HTTP, as a browser posts it), the village's list shows
it activated, a new code replaces the old, and a reviewer's desk may not open accounts.
"""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

import bianmin_ffi as bm

EAST = "370883101201"
PASSWORD = "li's own 2026 pw"


def enrol(hub, tmp_path, user, device):
    return bm.TabletStore.enroll(
        str(tmp_path / f"{device}.db"), hub.url, hub.code(user), device
    )


def activate(hub, name, code):
    """Activates `name`'s account with `code` as a phone's browser would; returns the status
    of the answer to the form and the page it led to."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with browser.open(f"{hub.url}/resident/activate") as page:
        form = page.read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    fields = urllib.parse.urlencode(
        {"csrf": token, "name": name, "code": code, "password": PASSWORD, "again": PASSWORD}
    ).encode()
    try:
        # A success is a 303 to the resident's page, which the opener follows.
        with browser.open(f"{hub.url}/resident/activate", data=fields) as answer:
            return answer.status, answer.geturl(), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.geturl(), refused.read().decode()


def test_a_clerk_opens_an_account_and_the_code_activates_it(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-accounts")
    issued = clerk.open_resident("resident-py-li", "李秀兰")
    assert (issued.name, issued.display_name, issued.village) == (
        "resident-py-li",
        "李秀兰",
        EAST,
    )
    assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", issued.code)
    assert issued.user_id.startswith("u-")

    listed = {r.name: r for r in clerk.list_residents()}
    li = listed["resident-py-li"]
    assert not li.activated and li.code_expires_at == issued.expires_at
    assert all(r.village == EAST for r in listed.values())

    # A new code replaces the first: the first no longer works, the new one does.
    newer = clerk.new_activation_code("resident-py-li")
    assert newer.code != issued.code and newer.user_id == issued.user_id
    status, _, _ = activate(hub, "resident-py-li", issued.code)
    assert status == 401
    status, url, page = activate(hub, "resident-py-li", newer.code.lower())
    assert status == 200 and url.endswith("/resident?activated=1"), (status, url)
    assert "账号已激活" in page
    assert {r.name: r for r in clerk.list_residents()}["resident-py-li"].activated


def test_taken_names_and_other_roles_are_refused_by_the_hub(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-refusals")
    with pytest.raises(bm.BianminError.Refused) as refused:
        clerk.open_resident("resident-wang", "王秀英")
    assert (refused.value.status, refused.value.code) == (409, "name_taken")
    with pytest.raises(bm.BianminError.Refused) as refused:
        clerk.open_resident("bad name!", "李")
    assert refused.value.status == 422
    assert "name: must be 1 to 64" in str(refused.value)
    with pytest.raises(bm.BianminError.Refused) as refused:
        clerk.new_activation_code("resident-nobody")
    assert refused.value.status == 404

    desk = enrol(hub, tmp_path, "reviewer-taiping", "taiping-accounts")
    with pytest.raises(bm.BianminError.Refused) as refused:
        desk.open_resident("resident-py-zhou", "周")
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    assert "resident-py-zhou" not in {r.name for r in clerk.list_residents()}
