#!/usr/bin/env python3
"""A hub's Open311 GeoReport v2 API, read by a published client: ``georeport`` 0.3.1.

Every call the client offers (the service list, a service definition, the request list with
each of its filters, one request) is made in JSON and in XML, without and with the
``jurisdiction_id``, and the answers are checked against what the hub is known to hold: the
catalog's service codes, and the requests filed by the test, read back by receipt number. No
answer may contain any of the forbidden strings (the applicant's personal data).

Run by ``tests/tests/open311.rs`` against a test hub, with these variables:

- ``BIANMIN_OPEN311_URL``: the API's root, e.g. ``http://127.0.0.1:8080/open311/v2``;
- ``BIANMIN_OPEN311_JURISDICTION``: the county's code;
- ``BIANMIN_OPEN311_CODES``: the catalog's service codes, comma-separated, in published order;
- ``BIANMIN_OPEN311_RECEIPT``: the receipt number of a request filed and accepted (open);
- ``BIANMIN_OPEN311_RECEIPT_CODE``: its service code;
- ``BIANMIN_OPEN311_ALL_RECEIPTS``: every request filed (drafts aside), comma-separated;
- ``BIANMIN_OPEN311_FORBIDDEN``: a JSON list of strings no answer may contain.

Filing (``POST requests``), which the client does not offer, is then posted with a plain HTTP
client (``urllib``) in the specification's form encoding, and what was filed is read back
through the client; these variables (all set, or the filing checks are skipped):

- ``BIANMIN_OPEN311_API_KEY``: a key for the township of the village below;
- ``BIANMIN_OPEN311_REVOKED_KEY``: a key that was revoked;
- ``BIANMIN_OPEN311_FILING``: a JSON object of the form's fields (the village as
  ``attribute[village]``, the person's name, phone and ID number, the item's attributes), to
  which the script adds the key, ``jurisdiction_id`` and ``description``.

Quirks of the client this relies on: it appends ``.json`` or ``.xml`` to every path, sends
``jurisdiction_id`` only when given one and never an API key on reads; in XML it returns
``xmltodict``'s reading, where an element that occurs once is a dict rather than a list of one,
an empty one is ``None``, and every value is text (``'true'``, ``'1'``).
"""

import datetime
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import xmltodict

import georeport
from georeport import GeoReport

URL = os.environ["BIANMIN_OPEN311_URL"]
JURISDICTION = os.environ["BIANMIN_OPEN311_JURISDICTION"]
CODES = os.environ["BIANMIN_OPEN311_CODES"].split(",")
RECEIPT = os.environ["BIANMIN_OPEN311_RECEIPT"]
RECEIPT_CODE = os.environ["BIANMIN_OPEN311_RECEIPT_CODE"]
ALL_RECEIPTS = set(os.environ["BIANMIN_OPEN311_ALL_RECEIPTS"].split(","))
FORBIDDEN = json.loads(os.environ["BIANMIN_OPEN311_FORBIDDEN"])
API_KEY = os.environ.get("BIANMIN_OPEN311_API_KEY")
REVOKED_KEY = os.environ.get("BIANMIN_OPEN311_REVOKED_KEY")
FILING = json.loads(os.environ.get("BIANMIN_OPEN311_FILING", "null"))

# The spec's fields of a service request, all of which the hub answers (some empty).
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
}

answers = []


def seen(answer):
    """Keeps an answer for the personal-data check, and returns it."""
    answers.append(answer)
    return answer


def as_list(value):
    """A list, whatever xmltodict made of it (one element is a dict, none is None)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def truth(value):
    """A boolean as JSON (True) or XML (``'true'``) gives it."""
    return value is True or value == "true"


def w3c(value):
    """Parses a W3C date-time; it must carry its time zone."""
    t = datetime.datetime.fromisoformat(value)
    assert t.tzinfo is not None, value
    return t


def check_services(client, fmt):
    services = as_list(seen(client.get_service_list()))
    codes = [s["service_code"] for s in services]
    assert codes == CODES, f"{fmt}: the catalog's codes, in order: {codes}"
    for s in services:
        assert s["service_name"], s
        assert s["type"] in ("realtime", "batch", "blackbox"), s
    card = next(s for s in services if s["service_code"] == "SOC-CARD")
    assert truth(card["metadata"]), card
    assert card["service_name"] == "社会保障卡申领补换", card


def check_definitions(client, fmt):
    definition = seen(client.get_service_definition("SOC-CARD"))
    assert definition["service_code"] == "SOC-CARD", definition
    attributes = as_list(definition["attributes"] and definition["attributes"]["attribute"]) \
        if fmt == "xml" else definition["attributes"]
    assert len(attributes) == 1, attributes
    reason = attributes[0]
    assert reason["code"] == "reason", reason
    assert reason["datatype"] == "singlevaluelist", reason
    assert truth(reason["required"]) and truth(reason["variable"]), reason
    assert str(reason["order"]) == "1", reason
    values = as_list(reason["values"]["value"]) if fmt == "xml" else reason["values"]
    assert [v["key"] for v in values] == ["first card", "lost", "damaged"], values

    # A personal attribute is defined, and marked as such.
    definition = seen(client.get_service_definition("AID-ELDER-ALLOWANCE"))
    attributes = as_list(definition["attributes"]["attribute"]) \
        if fmt == "xml" else definition["attributes"]
    assert attributes[0]["code"] == "bank_account", attributes
    assert "个人信息" in attributes[0]["datatype_description"], attributes

    # Every service has a definition, with or without attributes.
    for code in CODES:
        definition = seen(client.get_service_definition(code))
        assert definition["service_code"] == code, definition


def check_request(request, fmt):
    assert set(request) == REQUEST_FIELDS, f"{fmt}: {sorted(request)}"
    assert request["status"] in ("open", "closed"), request
    w3c(request["requested_datetime"])
    w3c(request["updated_datetime"])
    if request["expected_datetime"]:
        w3c(request["expected_datetime"])
    for empty in ("description", "media_url", "lat", "long", "zipcode"):
        assert request[empty] is None, request


def check_requests(client, fmt):
    listed = as_list(seen(client.get_service_requests()))
    ids = [r["service_request_id"] for r in listed]
    assert set(ids) == ALL_RECEIPTS, f"{fmt}: {ids}"
    for r in listed:
        check_request(r, fmt)

    # Filters: service code, status, both; several codes; the receipt numbers.
    mine = as_list(seen(client.get_service_requests(service_code=RECEIPT_CODE, status="open")))
    assert [r["service_request_id"] for r in mine] == [RECEIPT], mine
    closed = as_list(seen(client.get_service_requests(status="closed")))
    assert closed and all(r["status"] == "closed" for r in closed), closed
    assert RECEIPT not in {r["service_request_id"] for r in closed}
    several = as_list(seen(client.get_service_requests(service_code=f"{RECEIPT_CODE},NO-SUCH")))
    assert [r["service_request_id"] for r in several] == [RECEIPT], several
    by_id = as_list(seen(client.get_service_requests(service_request_id=",".join(sorted(ALL_RECEIPTS)))))
    assert {r["service_request_id"] for r in by_id} == ALL_RECEIPTS, by_id

    # Dates, in the W3C form the client's documentation asks for.
    now = datetime.datetime.now(datetime.timezone.utc)
    start = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ranged = as_list(seen(client.get_service_requests(start_date=start, end_date=end)))
    assert {r["service_request_id"] for r in ranged} == ALL_RECEIPTS, ranged
    # Nothing filed before a month ago. In XML the client cannot read an empty list (it takes
    # ['request'] of the empty <service_requests/>, which xmltodict reads as None): JSON only.
    past = (now - datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    older = seen(client.get_service_requests(end_date=past)) if fmt == "json" else []
    assert as_list(older) == [], older

    # One request, by its receipt number.
    one = seen(client.get_service_request(RECEIPT))
    check_request(one, fmt)
    assert one["service_request_id"] == RECEIPT, one
    assert one["service_code"] == RECEIPT_CODE, one
    assert one["status"] == "open", one
    assert one["status_notes"] == "已受理，正在办理", one
    assert one["address"] == "太平镇东村", one
    assert one["agency_responsible"] == "太平镇便民服务中心", one
    assert one["expected_datetime"], one


# Straight to the hub, whatever proxy the machine sets.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(fmt, fields):
    """POSTs ``fields`` to ``requests.{fmt}``, form-encoded as the specification says: the
    status, the content type and the body as text."""
    request = urllib.request.Request(
        f"{URL}/requests.{fmt}",
        data=urllib.parse.urlencode(fields).encode("utf-8"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with HTTP.open(request, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read().decode()


def posted(fmt, fields):
    """Files a request; its ``service_request_id``, checked to be of the village's hub series."""
    status, content_type, body = post(fmt, fields)
    assert status == 200, f"{fmt}: {status} {body}"
    if fmt == "json":
        assert content_type == "application/json", content_type
        answer = json.loads(body)
        assert isinstance(answer, list) and len(answer) == 1, answer
        answer = answer[0]
    else:
        assert content_type == "text/xml", content_type
        answer = xmltodict.parse(body)["service_requests"]["request"]
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}, answer
    assert answer["account_id"] is None, answer
    assert answer["service_notice"], answer
    village = FILING["attribute[village]"]
    receipt = answer["service_request_id"]
    assert re.fullmatch(rf"{village}-000-\d{{6}}", receipt), receipt
    return receipt


def refused(fmt, fields, code):
    """A filing refused with ``code``, in the specification's error format; its descriptions."""
    status, _, body = post(fmt, fields)
    assert status == code, f"{fmt}: {status} {body}"
    if fmt == "json":
        errors = json.loads(body)
    else:
        errors = as_list(xmltodict.parse(body)["errors"]["error"])
    assert errors and all(str(e["code"]) == str(code) for e in errors), errors
    return [e["description"] for e in errors]


def check_filing():
    """Files two requests (JSON and XML answers, the village given two ways), reads them back
    through the client in both formats, and sees a revoked key refused."""
    village = FILING["attribute[village]"]
    base = dict(FILING, api_key=API_KEY, description="请尽快联系本人")
    by_village = dict(base, jurisdiction_id=village)
    del by_village["attribute[village]"]
    receipts = [
        posted("json", by_village),
        posted("xml", dict(base, jurisdiction_id=JURISDICTION)),
    ]
    assert len(set(receipts)) == 2, receipts
    print(f"ok: filed {receipts} (json, xml)")

    for fmt in ("json", "xml"):
        for jurisdiction in (None, JURISDICTION):
            client = GeoReport(URL, jurisdiction=jurisdiction, output_format=fmt)
            for receipt in receipts:
                one = seen(client.get_service_request(receipt))
                check_request(one, fmt)
                assert one["service_request_id"] == receipt, one
                assert one["service_code"] == FILING["service_code"], one
                assert one["status"] == "open", one
                assert one["address"], one
            both = as_list(seen(client.get_service_requests(service_request_id=",".join(receipts))))
            assert {r["service_request_id"] for r in both} == set(receipts), both
            print(f"ok: read back through georeport ({fmt}, jurisdiction {jurisdiction})")

    for fmt in ("json", "xml"):
        why = refused(fmt, dict(by_village, api_key=REVOKED_KEY), 403)
        assert any("revoked" in w for w in why), why
        why = refused(fmt, dict(by_village, service_code="NO-SUCH-ITEM"), 404)
        assert any("service_code" in w for w in why), why
    print("ok: a revoked key and an unknown service are refused in the specification's format")


def main():
    print(f"georeport {georeport.__version__} against {URL}")
    for fmt in ("json", "xml"):
        for jurisdiction in (None, JURISDICTION):
            client = GeoReport(URL, jurisdiction=jurisdiction, output_format=fmt)
            where = f"{fmt}, jurisdiction {jurisdiction}"
            for check in (check_services, check_definitions, check_requests):
                check(client, fmt)
                print(f"ok: {check.__name__} ({where})")

    if API_KEY and REVOKED_KEY and FILING:
        check_filing()
    else:
        print("filing not checked: no API key given")

    text = json.dumps(answers, ensure_ascii=False)
    for secret in FORBIDDEN:
        assert secret not in text, f"{secret!r} appears in an answer"
    print(f"ok: none of {len(FORBIDDEN)} personal strings in {len(answers)} answers")
    print("all georeport checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        import traceback
        traceback.print_exc()
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
