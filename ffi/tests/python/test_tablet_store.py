"""The tablet store through its Python binding, against a real bianmin-server.

The story a clerk and a township reviewer live: the clerk files, accepts and forwards a
request offline and syncs; the reviewer's desk syncs, finds it in its queue, approves it and
syncs; the clerk syncs and reads the decision. The app hears of changed documents through its
listener and of sync progress through the sync listener. Errors arrive as BianminError
variants whose messages name the field and never the resident's data.
"""

import threading
import uuid

import pytest

import bianmin_ffi as bm

EAST = "370883101201"
TAIPING = "370883101"
WANG_ID = "11010519491231002X"


class Changes:
    """A documents listener that records what it was told."""

    def __init__(self):
        self.calls = []

    def documents_changed(self, doc_ids):
        self.calls.append(list(doc_ids))

    def heard(self, doc_id):
        return any(doc_id in call for call in self.calls)


class Progress:
    """A sync listener that records every report."""

    def __init__(self):
        self.reports = []

    def sync_progress(self, progress):
        self.reports.append(progress)


def soc_card(**changes):
    fields = dict(
        item_code="SOC-CARD",
        applicant_name="王秀英",
        id_number=WANG_ID,
        phone="13812345678",
        grid="1组",
        attributes={"reason": bm.AttrValue.TEXT(value="lost")},
        # Every material SOC-CARD requires: the request can be accepted.
        materials_received=["ID card", "Recent photo"],
    )
    fields.update(changes)
    return bm.NewRequest(**fields)


def enrol(hub, tmp_path, user, device):
    return bm.TabletStore.enroll(
        str(tmp_path / f"{device}.db"), hub.url, hub.code(user), device
    )


def test_a_request_goes_to_the_township_and_the_decision_comes_back(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-tablet")
    me = clerk.identity()
    assert (me.role, me.area) == (bm.Role.CLERK, EAST)
    assert clerk.server_url() == hub.url
    clerk_changes = Changes()
    clerk.set_documents_listener(clerk_changes)

    # A morning offline at the service point.
    filed = clerk.file_request(soc_card())
    assert filed.status == bm.Status.SUBMITTED
    assert filed.receipt_no.startswith(f"{EAST}-")
    request_id = filed.id
    assert clerk_changes.calls == [[request_id]], "the listener hears the local write"
    clerk.apply_action(request_id, bm.Action.ACCEPT())
    forwarded = clerk.apply_action(request_id, bm.Action.FORWARD())
    assert forwarded.status == bm.Status.FORWARDED
    assert forwarded.clock.is_RUNNING()
    assert clerk_changes.calls == [[request_id]] * 3

    row = clerk.find_by_receipt(filed.receipt_no)
    assert row.id == request_id
    assert row.applicant_masked == "王*英", "lists show the name masked"

    progress = Progress()
    report = clerk.sync(progress)
    assert report.accepted == 1
    assert report.refused == [] and report.pull_errors == []
    assert progress.reports, "sync progress was reported"
    assert progress.reports[-1] == report.progress
    assert report.progress.docs_pushed >= 1
    assert report.progress.bytes_sent > 0
    assert [p.rounds for p in progress.reports] == list(range(1, report.progress.rounds + 1))

    # The township's desk enrols, syncs, and finds the request in its queue.
    reviewer = enrol(hub, tmp_path, "reviewer-taiping", "township-desk")
    assert reviewer.identity().role == bm.Role.REVIEWER
    assert reviewer.identity().area == TAIPING
    reviewer_changes = Changes()
    reviewer.set_documents_listener(reviewer_changes)
    reviewer_progress = Progress()
    received = reviewer.sync(reviewer_progress)
    assert request_id in received.changed
    assert reviewer_changes.heard(request_id)
    assert reviewer_progress.reports and reviewer_progress.reports[-1].docs_pulled >= 1
    # The demo hub also holds its West Village demo tablet's forwarded requests.
    queue = reviewer.list_requests(
        bm.RequestFilter(status=bm.Status.FORWARDED, village=EAST),
        bm.RequestSort.DEADLINE,
        bm.Page(offset=0, limit=50),
    )
    assert [r.id for r in queue.rows] == [request_id]
    seen = reviewer.request(request_id)
    assert seen.status == bm.Status.FORWARDED
    assert seen.applicant.id_number == WANG_ID
    assert seen.attributes == {"reason": bm.AttrValue.TEXT(value="lost")}

    approved = reviewer.apply_action(request_id, bm.Action.APPROVE(note="材料齐全，同意"))
    assert approved.status == bm.Status.APPROVED
    assert reviewer.sync(Progress()).accepted == 1

    # Back at the village: the decision arrives, and the app is told.
    clerk_changes.calls.clear()
    progress = Progress()
    back = clerk.sync(progress)
    assert progress.reports, "sync progress was reported"
    assert back.new_changes >= 1
    assert back.changed == [request_id]
    assert clerk_changes.calls == [[request_id]], "the listener hears the sync's change"
    decided = clerk.request(request_id)
    assert decided.status == bm.Status.APPROVED
    assert decided.clock.is_STOPPED()
    history = clerk.request_history(request_id)
    assert history == decided.history
    assert [h.action for h in history] == [
        bm.Action.SUBMIT(),
        bm.Action.ACCEPT(),
        bm.Action.FORWARD(),
        bm.Action.APPROVE(note="材料齐全，同意"),
    ]
    decision = history[-1]
    assert decision.by.user == reviewer.identity().user
    assert decision.by.role == bm.Role.REVIEWER
    assert decision.by.device == reviewer.identity().device
    assert all(h.by.user == me.user for h in history[:-1])
    assert all(h.invalid is None for h in history)

    # A sync with nothing new changes nothing and tells nobody.
    clerk_changes.calls.clear()
    quiet = clerk.sync(Progress())
    assert quiet.changed == [] and quiet.new_changes == 0
    assert clerk_changes.calls == []


def test_an_agenda_item_reaches_the_township_which_records_it(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-tablet-2")
    item = clerk.create_agenda(bm.NewAgendaItem(
        title="村集体鱼塘承包方案",
        category="collective assets",
        description="东村集体鱼塘五年承包方案",
    ))
    after = clerk.record_agenda(item.id, bm.AgendaAction.MEETING(meeting=bm.MeetingRecord(
        body=bm.Body.PARTY_BRANCH, held_on="2026-05-06", entitled=5, present=5,
        votes_for=5, votes_against=0, abstentions=0, minutes="会议记录",
    )))
    assert after.stage == bm.Stage.CONSULTATION
    assert after.history[0].meeting_result == bm.MeetingResult.PASSED()
    clerk.sync(Progress())

    reviewer = enrol(hub, tmp_path, "reviewer-taiping", "township-desk-2")
    reviewer.sync(Progress())
    listed = reviewer.list_agenda(bm.Stage.CONSULTATION, bm.Page())
    assert item.id in [r.id for r in listed.rows]
    reviewed = reviewer.record_agenda(item.id, bm.AgendaAction.TOWNSHIP_REVIEW(
        review=bm.ReviewKind.COMMENT, comment="请附上评估报告"))
    assert reviewed.stage == bm.Stage.CONSULTATION
    reviewer.sync(Progress())

    changes = Changes()
    clerk.set_documents_listener(changes)
    assert item.id in clerk.sync(Progress()).changed
    assert changes.heard(item.id)
    history = clerk.agenda_history(item.id)
    assert history[-1].action == bm.AgendaAction.TOWNSHIP_REVIEW(
        review=bm.ReviewKind.COMMENT, comment="请附上评估报告")
    assert history[-1].by.role == bm.Role.REVIEWER
    assert history[0].action.meeting.held_on == "2026-05-06"


def test_a_public_text_with_a_phone_number_gets_a_warning_not_a_refusal(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-tablet-5")
    new = bm.NewAgendaItem(
        title="补偿款发放",
        category="compensation",
        description="咨询电话 +86 138 1234 5678",
    )
    warnings = clerk.new_agenda_warnings(new)
    assert warnings == [bm.PublicTextWarning(
        field_name="description", kinds=[bm.PersonalNumberKind.MOBILE])]
    assert clerk.create_agenda(new).description == "咨询电话 +86 138 1234 5678"
    notice = bm.AgendaAction.RESOLUTION_NOTICE(notice=bm.Notice(
        text="按户发放，面积 1200 平方米", posted_on="2026-05-21", period_days=7))
    assert clerk.agenda_action_warnings(notice) == []


def test_a_bad_id_number_is_refused_naming_the_field_and_not_the_number(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-tablet-3")
    changes = Changes()
    clerk.set_documents_listener(changes)
    bad = "110105194912310021"  # the check digit should be X

    with pytest.raises(bm.BianminError.Invalid) as refused:
        clerk.file_request(soc_card(id_number=bad))
    err = refused.value
    assert isinstance(err, bm.BianminError)
    assert err.field_name == "applicant.id_number"
    assert err.rule == "check digit does not match (GB 11643)"
    assert "applicant.id_number" in str(err)
    assert bad not in str(err) and bad not in repr(err)
    assert clerk.counts().requests == 0, "nothing was stored"
    assert changes.calls == [], "nobody was told of a change"

    with pytest.raises(bm.BianminError.Invalid) as refused:
        clerk.request("not-a-uuid")
    assert refused.value.field_name == "id"

    with pytest.raises(bm.BianminError.NotFound):
        clerk.request(str(uuid.uuid4()))

    mine = clerk.file_request(soc_card())
    with pytest.raises(bm.BianminError.Forbidden) as refused:
        clerk.apply_action(mine.id, bm.Action.APPROVE(note=""))
    assert "clerk" in str(refused.value)


def test_a_listener_that_raises_does_not_undo_or_fail_the_write(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-tablet-4")

    class Broken:
        def documents_changed(self, doc_ids):
            raise RuntimeError("the app's listener has a bug")

    clerk.set_documents_listener(Broken())
    filed = clerk.file_request(soc_card())
    assert clerk.request(filed.id).receipt_no == filed.receipt_no
    assert clerk.counts().requests == 1


def test_a_spent_enrolment_code_is_refused_by_the_hub(hub, tmp_path):
    code = hub.code("clerk-east")
    bm.TabletStore.enroll(str(tmp_path / "first.db"), hub.url, code, "first")
    with pytest.raises(bm.BianminError.Refused) as refused:
        bm.TabletStore.enroll(str(tmp_path / "second.db"), hub.url, code, "second")
    assert 400 <= refused.value.status < 500
    assert not (tmp_path / "second.db").exists()


def test_a_reopened_store_keeps_its_identity_and_work(hub, tmp_path):
    path = str(tmp_path / "reopened.db")
    clerk = bm.TabletStore.enroll(path, hub.url, hub.code("clerk-east"), "reopened")
    filed = clerk.file_request(soc_card())
    device = clerk.identity().device
    del clerk

    again = bm.TabletStore.open(path)
    assert again.identity().device == device
    assert again.server_url() == hub.url
    assert again.request(filed.id).receipt_no == filed.receipt_no
    assert again.sync(Progress()).accepted == 1


def test_watch_hears_the_hub_and_stops_when_asked(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-tablet-watch")
    other = enrol(hub, tmp_path, "clerk-east", "east-tablet-other")
    heard = threading.Event()

    class Notices:
        def hub_changed(self):
            heard.set()
            clerk.stop_watching()

    failures = []

    def run():
        try:
            clerk.watch(Notices())
        except bm.BianminError as e:
            failures.append(e)

    watcher = threading.Thread(target=run, daemon=True)
    watcher.start()
    # Another tablet of the village files a request and syncs; the hub tells the watching
    # tablet. Its connection may not be open yet: keep working until the notice arrives.
    filed = other.file_request(soc_card())
    for _ in range(40):
        other.sync(Progress())
        if heard.wait(0.5):
            break
        other.comment_request(filed.id, "补充说明")
    assert heard.is_set(), "the hub's notice arrived"
    # stop_watching takes effect at the hub's next message: make one.
    other.comment_request(filed.id, "再次补充")
    other.sync(Progress())
    watcher.join(20)
    assert not watcher.is_alive(), "watch returned after stop_watching"
    assert failures == []
    assert filed.id in clerk.sync(Progress()).changed


class Transfers:
    """A transfer listener that records every report."""

    def __init__(self):
        self.reports = []

    def transfer_progress(self, progress):
        self.reports.append(progress)


def photo(size, seed):
    """A PNG-signed file of `size` bytes (the hub and the store judge the type by signature)."""
    body = bytes((i * 31 + seed) % 251 for i in range(size - 8))
    return b"\x89PNG\r\n\x1a\n" + body


def test_a_photo_of_a_material_reaches_the_township_desk(hub, tmp_path):
    clerk = enrol(hub, tmp_path, "clerk-east", "east-photo-tablet")
    changes = Changes()
    clerk.set_documents_listener(changes)
    request_id = clerk.file_request(soc_card()).id

    # A photo taken with the camera, and a scan from a file.
    picture = photo(700_000, 3)
    scan_path = tmp_path / "register.png"
    scan_path.write_bytes(photo(2_000, 9))
    changes.calls.clear()
    added = clerk.attach_bytes(request_id, "ID card", picture)
    assert changes.calls == [[request_id]], "the listener hears the attachment"
    assert (added.material, added.media_type, added.size) == ("ID card", bm.MediaType.PNG, len(picture))
    clerk.attach_file(request_id, "ID card", str(scan_path))
    assert [a.sha256 for a in clerk.request(request_id).attachments] == [
        a.attachment.sha256 for a in clerk.attachments(request_id)
    ]
    states = [a.state for a in clerk.attachments(request_id)]
    assert states == [bm.TransferState.UPLOADING(uploaded=0)] * 2

    # A file that is not a photo or a PDF is refused, naming the rule; nothing is added.
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    with pytest.raises(bm.BianminError.Invalid) as refused:
        clerk.attach_file(request_id, "ID card", str(text))
    assert refused.value.field_name == "attachment.media_type"
    assert len(clerk.attachments(request_id)) == 2

    clerk.apply_action(request_id, bm.Action.ACCEPT())
    clerk.apply_action(request_id, bm.Action.FORWARD())

    # The requests first, then the bytes, with progress per chunk.
    assert clerk.sync(Progress()).accepted == 1
    sent = Transfers()
    changes.calls.clear()
    report = clerk.transfer_attachments(sent)
    assert sorted(report.uploaded) == sorted(a.sha256 for a in clerk.request(request_id).attachments)
    assert report.failed == []
    assert report.bytes_sent >= len(picture)
    assert report.changed == [request_id] and changes.calls == [[request_id]]
    big = [p for p in sent.reports if p.sha256 == added.sha256]
    assert big[-1].done == big[-1].size == len(picture)
    assert all(p.direction == bm.TransferDirection.UPLOAD for p in sent.reports)
    assert [a.state for a in clerk.attachments(request_id)] == [bm.TransferState.COMPLETE()] * 2

    # The township's desk receives the request, then the photo.
    reviewer = enrol(hub, tmp_path, "reviewer-taiping", "photo-desk")
    reviewer.sync(Progress())
    assert all(a.state == bm.TransferState.MISSING() for a in reviewer.attachments(request_id))
    with pytest.raises(bm.BianminError.NotFound):
        reviewer.open_attachment(request_id, added.sha256)
    got = Transfers()
    received = reviewer.transfer_attachments(got)
    assert added.sha256 in received.downloaded and received.failed == []
    assert got.reports[-1].direction == bm.TransferDirection.DOWNLOAD
    with open(reviewer.open_attachment(request_id, added.sha256), "rb") as f:
        assert f.read() == picture, "the photo arrived intact"
