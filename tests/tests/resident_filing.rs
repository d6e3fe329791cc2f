//! A resident files and follows a request from the phone, through a real hub over HTTP with a
//! browser's cookie jar, and the village clerk's and the township reviewer's real tablets on
//! the other side: the resident files with photos of the materials (a small JPEG and a large
//! one the hub scales down), the clerk's tablet receives the request at its next sync marked
//! self-filed with a receipt number of the hub's series, returns it for a material, the
//! resident supplements it from the phone with a photo, the reviewer approves, the clerk
//! delivers, the resident rates; every step shows on the resident's page, and another resident
//! sees none of it. A resident withdraws a request after a confirmation. Bad input (a text
//! file as a photo, an upload over the limit, an unknown service item, a missing attribute, a
//! forged resident in the form, a wrong CSRF token) gets a clear answer in Chinese or English
//! and stores nothing.
//!
//! Runs on SQLite, or on PostgreSQL with `BIANMIN_TEST_BACKEND=postgres`.

use std::io::Read;
use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_client_core::transfer::transfer_attachments;
use bianmin_client_core::{Store, model::RequestDetail};
use bianmin_document::model::FieldEdit;
use bianmin_domain::{Action, Rating, Role, Status};
use bianmin_server::engine::RESIDENT_DEVICE;
use bianmin_server::{Limits, admin};
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use bianmin_tests::phone::{Answer, Part, Phone, csrf, error_of};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use uuid::Uuid;

/// The resident's password.
const PASSWORD: &str = "wang's own 2026";
/// Another resident of East Village.
const OTHER: &str = "resident-zhao";
/// East Village.
const EAST: &str = "370883101201";
/// The resident's real ID number and phone, as typed on the phone.
const ID_NUMBER: &str = "11010519491231002x";
const PHONE: &str = "138 1234 5678";

/// The phone of `name`, who activated the account and stays signed in.
fn activated(hub: &TestHub, name: &str) -> Phone {
    Phone::activated(hub, name, PASSWORD)
}

// ---------------------------------------------------------------------------------------------
// Photos, people, tablets

/// A real JPEG photo of `width` x `height`, different for each `seed`.
fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x / 7) as u8 ^ seed, (y / 5) as u8, seed.wrapping_mul(37)])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

fn user_id(hub: &TestHub, name: &str) -> String {
    hub.storage.user_by_name(name).unwrap().unwrap().id
}

fn add_other_resident(hub: &TestHub) -> String {
    admin::add_user(hub.storage.as_ref(), OTHER, "赵", Role::Resident, EAST)
        .unwrap()
        .id
}

/// Syncs a tablet; nothing it pushed may be refused.
fn synced(store: &Mutex<Store>) {
    let report = sync(store, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

/// The request `id` on a tablet.
fn on_tablet(store: &Mutex<Store>, id: Uuid) -> RequestDetail {
    store.lock().unwrap().request(id).unwrap()
}

/// The request id in a redirect to its page (`/resident/requests/{id}?done=…`).
fn id_in(location: &str) -> Uuid {
    let rest = location
        .strip_prefix("/resident/requests/")
        .unwrap_or_else(|| panic!("not a request page: {location}"));
    Uuid::parse_str(&rest[..36]).unwrap()
}

/// The form of item `code`, filled in as Wang does, with `photos`, and `extra` fields.
fn file(b: &mut Phone, code: &str, fields: &[(&str, &str)], photos: &[Part<'_>]) -> Answer {
    let form = b.get(&format!("/resident/file/{code}"));
    assert_eq!(form.status, 200, "{}", form.body);
    let token = csrf(&form.body);
    let mut parts = vec![Part::Text("csrf", &token)];
    parts.extend(fields.iter().map(|(k, v)| Part::Text(k, v)));
    parts.extend(photos.iter().copied());
    b.post_multipart(&format!("/resident/file/{code}"), &parts)
}

/// Wang's answers on the social security card form.
fn card_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("id_number", ID_NUMBER),
        ("phone", PHONE),
        ("grid", "1组"),
        ("attr.reason", "lost"),
    ]
}

/// Whether the hub's blob store holds these bytes' scaled form complete.
fn hub_holds_scaled(hub: &TestHub, original: &[u8]) -> bool {
    let sha = bianmin_server::photos::scale(original).unwrap().sha256;
    hub.state.blobs.as_ref().unwrap().is_complete(&sha).unwrap()
}

/// A blob of the hub's, decoded: its width and height, and whether it carries EXIF.
fn hub_blob(hub: &TestHub, sha: &str) -> ((u32, u32), bool) {
    let mut blob = hub
        .state
        .blobs
        .as_ref()
        .unwrap()
        .open(sha)
        .unwrap()
        .expect("stored");
    let mut bytes = Vec::new();
    blob.reader.read_to_end(&mut bytes).unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    let exif = bytes.windows(4).any(|w| w == b"Exif");
    ((img.width(), img.height()), exif)
}

// ---------------------------------------------------------------------------------------------
// The stories

#[test]
fn a_resident_files_from_the_phone_and_follows_the_request_to_its_rating() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let wang = user_id(&hub, RESIDENT);
    let zhao = add_other_resident(&hub);
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east"));
    let reviewer = Mutex::new(hub.enrol(REVIEWER, dir.path(), "taiping"));
    let mut b = activated(&hub, RESIDENT);

    // The items, and one item's form: camera inputs, multipart, large type.
    let home = b.get("/resident");
    assert!(
        home.body.contains(r#"href="/resident/file""#),
        "{}",
        home.body
    );
    let items = b.get("/resident/file");
    assert_eq!(items.status, 200);
    assert_eq!(items.header("cache-control"), Some("no-store"));
    assert!(items.body.contains("社会保障卡申领补换"));
    assert!(items.body.contains(r#"href="/resident/file/SOC-CARD""#));
    let form = b.get("/resident/file/SOC-CARD");
    assert!(form.body.contains(r#"enctype="multipart/form-data""#));
    assert!(
        form.body
            .contains(r#"accept="image/*" capture="environment""#)
    );
    assert!(form.body.contains(r#"class="resident""#));
    assert!(
        form.body.contains("王秀英"),
        "the applicant is the resident"
    );
    // It works without JavaScript; the pages' scripts only add to it: from the hub, deferred,
    // nothing inline, and the form carries a fresh submission key.
    let scripts: Vec<&str> = form
        .body
        .match_indices("<script")
        .map(|(at, _)| &form.body[at..at + form.body[at..].find("</script>").unwrap()])
        .collect();
    assert_eq!(scripts.len(), 2, "{scripts:?}");
    for s in &scripts {
        assert!(s.starts_with(r#"<script src="/assets/resident-"#), "{s}");
        assert!(s.ends_with(r#".js" defer>"#), "nothing inline: {s}");
    }
    assert!(
        form.body
            .contains(r#"type="hidden" name="submission" value=""#)
    );

    // Filed with a small photo of the ID card and a large one of the recent photo, and a
    // forged resident in the form (ignored: the session decides whose request it is).
    let (id_card, portrait) = (jpeg(640, 400, 1), jpeg(3000, 2000, 2));
    let mut fields = card_fields();
    fields.extend([
        ("resident_user", zhao.as_str()),
        ("resident", zhao.as_str()),
    ]);
    let filed = file(
        &mut b,
        "SOC-CARD",
        &fields,
        &[
            Part::File("photo-0", "IMG_0001.jpg", "image/jpeg", &id_card),
            Part::File("photo-1", "IMG_0002.jpg", "image/jpeg", &portrait),
        ],
    );
    assert_eq!(filed.status, 303, "{}", filed.body);
    let location = filed.location.unwrap();
    let id = id_in(&location);
    let page = b.get(&location);
    assert_eq!(page.status, 200, "{}", page.body);
    let receipt = format!("{EAST}-000-000001");
    assert!(
        page.body.contains(&receipt),
        "the hub's series: {}",
        page.body
    );
    assert!(page.body.contains("申请已提交"));
    assert!(page.body.contains("自助办理"), "marked self-filed");
    assert!(page.body.contains("已提交，等待受理"));
    assert!(page.body.contains("近期免冠照片 ×1"), "{}", page.body);
    assert!(
        page.body
            .contains("已拍照上传，待服务站核对</dt><dd>居民身份证、近期免冠照片"),
        "photographed, not yet in hand: {}",
        page.body
    );
    assert!(page.body.contains("您提交了申请"), "history in plain words");
    assert!(!page.body.contains("11010519491231002X"), "ID masked");
    let home = b.get("/resident");
    assert!(home.body.contains(&receipt));
    assert!(
        home.body
            .contains(&format!(r#"href="/resident/requests/{id}""#))
    );

    // On the hub: the resident's request, written on the resident pages' pseudo-device; the
    // photos stored complete, scaled and without EXIF.
    assert_eq!(hub.storage.request_by_receipt(&receipt).unwrap(), Some(id));
    let audit = hub.storage.audit(id).unwrap();
    assert!(
        audit
            .iter()
            .all(|e| e.device_id == RESIDENT_DEVICE && e.user_id == wang)
    );

    // The clerk's tablet receives it at its next sync, marked self-filed.
    synced(&clerk);
    let row = clerk
        .lock()
        .unwrap()
        .find_by_receipt(&receipt)
        .unwrap()
        .expect("in the clerk's queue");
    assert!(row.self_filed(), "the list marks it");
    assert_eq!(row.status, Status::Submitted);
    let d = on_tablet(&clerk, id);
    assert!(d.self_filed());
    assert_eq!(
        d.resident_user.as_deref(),
        Some(wang.as_str()),
        "Wang's, not Zhao's"
    );
    assert_eq!(
        (d.created.role, d.created.device.as_str()),
        (Role::Resident, RESIDENT_DEVICE)
    );
    assert_eq!(d.applicant.name, "王秀英", "the account's name");
    assert_eq!(d.applicant.id_number, "11010519491231002X", "normalised");
    assert_eq!(d.applicant.phone, "13812345678");
    assert!(
        d.materials_received.is_empty(),
        "photos are not materials in hand"
    );
    let photo_of = |d: &RequestDetail, m: &str| {
        d.attachments
            .iter()
            .filter(|a| a.material == m)
            .map(|a| a.sha256.clone())
            .collect::<Vec<_>>()
    };
    let (id_sha, portrait_sha) = (photo_of(&d, "ID card"), photo_of(&d, "Recent photo"));
    assert_eq!((id_sha.len(), portrait_sha.len()), (1, 1));
    assert_eq!(
        hub_blob(&hub, &id_sha[0]),
        ((640, 400), false),
        "kept at its size"
    );
    assert_eq!(
        hub_blob(&hub, &portrait_sha[0]),
        ((1600, 1067), false),
        "scaled to 1600 px on its long side"
    );
    // The clerk's tablet downloads the photos like any attachment.
    let moved = transfer_attachments(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(moved.failed.is_empty(), "{moved:?}");
    assert_eq!(moved.downloaded.len(), 2, "{moved:?}");

    // The clerk checks the photos, accepts, then returns it for a clearer recent photo.
    {
        let mut s = clerk.lock().unwrap();
        for m in ["ID card", "Recent photo"] {
            s.edit(
                id,
                FieldEdit::Material {
                    name: m.into(),
                    received: true,
                },
            )
            .unwrap();
        }
        s.apply(id, Action::Accept).unwrap();
        s.apply(
            id,
            Action::ReturnForSupplement {
                missing: vec!["Recent photo".into()],
                note: "照片须为白底，请重拍".into(),
            },
        )
        .unwrap();
    }
    synced(&clerk);
    let page = b.get(&format!("/resident/requests/{id}"));
    assert!(page.body.contains("退回补正"), "{}", page.body);
    assert!(page.body.contains("照片须为白底"));
    assert!(
        page.body
            .contains("村便民服务站退回补正，需要补交：近期免冠照片")
    );
    assert!(
        page.body
            .contains(&format!(r#"action="/resident/requests/{id}/supplement""#))
    );
    assert!(!page.body.contains("/rate\""), "nothing to rate yet");

    // The resident supplements from the phone: a photo of what was asked for.
    let token = csrf(&page.body);
    let again = jpeg(1200, 1600, 3);
    let s = b.post_multipart(
        &format!("/resident/requests/{id}/supplement"),
        &[
            Part::Text("csrf", &token),
            Part::File("photo-0", "IMG_0003.jpg", "image/jpeg", &again),
        ],
    );
    assert_eq!(s.status, 303, "{}", s.body);
    let page = b.get(&s.location.unwrap());
    assert!(page.body.contains("材料已补交"));
    assert!(page.body.contains("已受理，正在办理"), "{}", page.body);
    assert!(page.body.contains("您补交了材料：近期免冠照片"));
    assert!(page.body.contains("近期免冠照片 ×2"));

    // The clerk forwards, the township approves, the clerk delivers.
    synced(&clerk);
    let d = on_tablet(&clerk, id);
    assert_eq!(d.status, Status::Accepted);
    assert_eq!(photo_of(&d, "Recent photo").len(), 2);
    clerk.lock().unwrap().apply(id, Action::Forward).unwrap();
    synced(&clerk);
    synced(&reviewer);
    reviewer
        .lock()
        .unwrap()
        .apply(
            id,
            Action::Approve {
                note: String::new(),
            },
        )
        .unwrap();
    synced(&reviewer);
    synced(&clerk);
    clerk.lock().unwrap().apply(id, Action::Deliver).unwrap();
    synced(&clerk);

    // The resident sees it finished, and rates it.
    let page = b.get(&format!("/resident/requests/{id}"));
    assert!(
        page.body.contains("镇便民服务中心审核通过"),
        "{}",
        page.body
    );
    assert!(page.body.contains("已办结"));
    assert!(
        page.body
            .contains(&format!(r#"action="/resident/requests/{id}/rate""#))
    );
    for words in ["非常满意", "满意", "基本满意", "不满意", "非常不满意"] {
        assert!(page.body.contains(words), "{words}");
    }
    assert!(!page.body.contains("/withdraw\""), "too late to withdraw");
    let rated = b.submit(
        &format!("/resident/requests/{id}"),
        &format!("/resident/requests/{id}/rate"),
        &[("rating", "very_satisfied"), ("comment", "办得很快，谢谢")],
    );
    assert_eq!(rated.status, 303, "{}", rated.body);
    let page = b.get(&rated.location.unwrap());
    assert!(page.body.contains("谢谢您的评价"));
    assert!(page.body.contains("您评价：非常满意：办得很快，谢谢"));
    assert!(!page.body.contains("/rate\""), "rated once");
    synced(&clerk);
    assert_eq!(on_tablet(&clerk, id).rating, Some(Rating::VerySatisfied));

    // In English too.
    let en = b.get(&format!("/resident/requests/{id}?lang=en"));
    assert!(en.body.contains("Self-filed"));
    assert!(en.body.contains("You rated it: Very satisfied"));
    b.get("/resident?lang=zh");

    // Another resident sees none of it: the same 404 as a request that does not exist.
    let mut z = activated(&hub, OTHER);
    let theirs = z.get(&format!("/resident/requests/{id}"));
    assert_eq!(theirs.status, 404);
    assert_eq!(
        z.get(&format!("/resident/requests/{}", Uuid::new_v4()))
            .status,
        404
    );
    assert_eq!(z.get("/resident/requests/not-an-id").status, 404);
    assert!(!z.get("/resident").body.contains(&receipt));
    let forged = z.submit(
        "/resident",
        &format!("/resident/requests/{id}/withdraw"),
        &[("confirm", "yes")],
    );
    assert_eq!(forged.status, 404, "{}", forged.body);
    assert_eq!(on_tablet(&clerk, id).status, Status::Completed);
}

#[test]
fn a_resident_withdraws_after_confirming_and_the_series_goes_on() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east"));
    let mut b = activated(&hub, RESIDENT);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let filed = file(
            &mut b,
            "CIV-RESIDENCE-CERT",
            &[
                ("id_number", ID_NUMBER),
                ("phone", PHONE),
                ("grid", "2组"),
                ("attr.purpose", "子女入学"),
            ],
            &[],
        );
        assert_eq!(filed.status, 303, "{}", filed.body);
        ids.push(id_in(&filed.location.unwrap()));
    }
    let page = b.get(&format!("/resident/requests/{}", ids[1]));
    assert!(
        page.body.contains(&format!("{EAST}-000-000002")),
        "the next number"
    );
    assert!(
        page.body
            .contains("尚缺材料</dt><dd class=\"missing\"><strong>居民身份证"),
        "no photo sent: still missing"
    );

    // Withdrawing asks first; the confirmation's form does it.
    let id = ids[0];
    assert!(page.body.contains("撤回申请"));
    let confirm = b.get(&format!("/resident/requests/{id}/withdraw"));
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("确定要撤回这件申请吗"));
    let unconfirmed = b.submit(
        &format!("/resident/requests/{id}/withdraw"),
        &format!("/resident/requests/{id}/withdraw"),
        &[("reason", "不办了")],
    );
    assert_eq!(unconfirmed.status, 303, "back to the confirmation");
    assert!(
        b.get(&format!("/resident/requests/{id}"))
            .body
            .contains("已提交，等待受理")
    );
    let done = b.submit(
        &format!("/resident/requests/{id}/withdraw"),
        &format!("/resident/requests/{id}/withdraw"),
        &[("reason", "不办了"), ("confirm", "yes")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let page = b.get(&done.location.unwrap());
    assert!(page.body.contains("申请已撤回"));
    assert!(page.body.contains("您撤回了申请：不办了"));
    assert!(!page.body.contains("/withdraw\""), "once");

    // Rating a request that is not finished: refused, nothing stored.
    let (docs, changes) = hub.storage.counts().unwrap();
    let early = b.submit(
        "/resident",
        &format!("/resident/requests/{}/rate", ids[1]),
        &[("rating", "dissatisfied")],
    );
    assert_eq!(early.status, 422, "{}", early.body);
    assert!(error_of(&early.body).contains("未能完成"));
    assert_eq!(hub.storage.counts().unwrap(), (docs, changes));

    synced(&clerk);
    assert_eq!(on_tablet(&clerk, id).status, Status::Withdrawn);
    let row = clerk.lock().unwrap().request_row(ids[1]).unwrap().unwrap();
    assert!(row.self_filed());
    assert_eq!(row.status, Status::Submitted);
}

#[test]
fn bad_input_gets_a_clear_answer_and_stores_nothing() {
    // A small limit on a form with photos, to go over it cheaply.
    const LIMIT: usize = 1024 * 1024;
    let hub = TestHub::start_with(|s| {
        s.with_limits(Limits {
            photo_body_bytes: LIMIT,
            ..Limits::default()
        })
    });
    let zhao = add_other_resident(&hub);
    let mut b = activated(&hub, RESIDENT);
    let counts = hub.storage.counts().unwrap();
    let photo = jpeg(800, 600, 9);
    let ok_photo = Part::File("photo-0", "id.jpg", "image/jpeg", &photo);

    // A text file sent as a photo.
    let text = b"this is not a photo\n".to_vec();
    let a = file(
        &mut b,
        "SOC-CARD",
        &card_fields(),
        &[
            Part::File("photo-0", "id.jpg", "image/jpeg", &photo),
            Part::File("photo-1", "notes.txt", "text/plain", &text),
        ],
    );
    assert_eq!(a.status, 422, "{}", a.body);
    let e = error_of(&a.body);
    assert!(
        e.contains("“近期免冠照片”上传的文件（notes.txt）不是照片"),
        "{e}"
    );
    assert!(
        a.body.contains(r#"value="138 1234 5678""#),
        "what was typed is kept"
    );

    // More than the limit: read to its end and refused with a page, not a cut connection.
    let big: Vec<u8> = {
        let mut v = jpeg(64, 64, 4);
        v.resize(LIMIT + 200 * 1024, 0);
        v
    };
    let a = file(
        &mut b,
        "SOC-CARD",
        &card_fields(),
        &[Part::File("photo-1", "huge.jpg", "image/jpeg", &big)],
    );
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(
        error_of(&a.body).contains("上传的照片太大：一次最多 1 MB"),
        "{}",
        a.body
    );

    // An unknown service item, in the address and in the form.
    let a = b.get("/resident/file/NO-SUCH-ITEM");
    assert_eq!(a.status, 404);
    assert!(a.body.contains("没有这个服务事项"));
    let form_token = csrf(&b.get("/resident/file/SOC-CARD").body);
    let a = b.post_multipart(
        "/resident/file/NO-SUCH-ITEM",
        &[
            Part::Text("csrf", &form_token),
            Part::Text("id_number", ID_NUMBER),
            Part::Text("phone", PHONE),
        ],
    );
    assert_eq!(a.status, 404, "{}", a.body);
    assert!(a.body.contains("没有这个服务事项：NO-SUCH-ITEM"));

    // A required attribute left out, a wrong ID number, a wrong grid: all named at once.
    let a = file(
        &mut b,
        "SOC-CARD",
        &[
            ("id_number", "110105194912310021"),
            ("phone", PHONE),
            ("grid", "9组"),
        ],
        &[ok_photo],
    );
    assert_eq!(a.status, 422, "{}", a.body);
    let e = error_of(&a.body);
    assert!(e.contains("请填写“申领原因”"), "{e}");
    assert!(e.contains("身份证号码有误"), "{e}");
    assert!(e.contains("请选择您所在的村民小组"), "{e}");

    // In English on request.
    b.get("/resident?lang=en");
    let a = file(
        &mut b,
        "SOC-CARD",
        &[("id_number", ID_NUMBER), ("phone", PHONE), ("grid", "1组")],
        &[Part::File("photo-0", "notes.txt", "text/plain", &text)],
    );
    assert_eq!(a.status, 422);
    let e = error_of(&a.body);
    assert!(e.contains("Please fill in “Reason”"), "{e}");
    assert!(e.contains("(notes.txt) is not a photo"), "{e}");
    let a = file(
        &mut b,
        "SOC-CARD",
        &card_fields(),
        &[Part::File("photo-1", "huge.jpg", "image/jpeg", &big)],
    );
    assert_eq!(a.status, 413);
    assert!(error_of(&a.body).contains("The photos are too large"));
    b.get("/resident?lang=zh");

    // A wrong CSRF token: refused before anything is looked at.
    let a = b.post_multipart(
        "/resident/file/SOC-CARD",
        &[
            Part::Text("csrf", "0123456789abcdef"),
            Part::Text("id_number", ID_NUMBER),
            Part::Text("phone", PHONE),
            Part::Text("grid", "1组"),
            Part::Text("attr.reason", "lost"),
            Part::File("photo-0", "id.jpg", "image/jpeg", &photo),
        ],
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("未做任何操作"));
    // Signed out, nothing is read at all.
    let mut stranger = Phone::new(&hub.url);
    let a = stranger.post_multipart("/resident/file/SOC-CARD", &[Part::Text("csrf", "x")]);
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/resident/sign-in"))
    );

    // Nothing of any of it was stored: no document, no change, no photo.
    assert_eq!(hub.storage.counts().unwrap(), counts);
    assert!(!hub_holds_scaled(&hub, &photo), "no photo kept");
    assert_eq!(
        hub.storage.last_receipt(&format!("{EAST}-000-")).unwrap(),
        None
    );

    // A forged resident in the form changes nothing: the request is the signed-in resident's.
    let a = file(
        &mut b,
        "SOC-CARD",
        &[
            ("id_number", ID_NUMBER),
            ("phone", PHONE),
            ("grid", "1组"),
            ("attr.reason", "lost"),
            ("resident_user", &zhao),
            ("applicant_name", "赵"),
        ],
        &[Part::File("photo-0", "id.jpg", "image/jpeg", &photo)],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let id = id_in(&a.location.unwrap());
    let mut z = activated(&hub, OTHER);
    assert_eq!(z.get(&format!("/resident/requests/{id}")).status, 404);
    assert!(hub_holds_scaled(&hub, &photo), "stored with the filing");
}

#[test]
fn two_hub_processes_number_residents_filings_without_a_collision() {
    // Two hub processes on one PostgreSQL database, each taking residents' filings at once:
    // every filing gets its own number of the village's series, whichever process took it.
    let Some(pair) = TestHub::pair() else { return };
    let wang = pair.a.storage.user_by_name(RESIDENT).unwrap().unwrap();
    let signed_in = activated(&pair.a, RESIDENT);
    let on = |hub: &TestHub| signed_in.via(&hub.url);
    let ids: Vec<Uuid> = std::thread::scope(|s| {
        let runs: Vec<_> = [&pair.a, &pair.b, &pair.a, &pair.b, &pair.a, &pair.b]
            .into_iter()
            .map(|hub| {
                let mut b = on(hub);
                s.spawn(move || {
                    let filed = file(&mut b, "SOC-CARD", &card_fields(), &[]);
                    assert_eq!(filed.status, 303, "{}", filed.body);
                    id_in(&filed.location.unwrap())
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut receipts: Vec<String> = ids
        .iter()
        .map(|id| {
            let r = pair.b.state.engine.resident_request(&wang, *id).unwrap();
            assert!(r.detail.self_filed());
            r.detail.receipt_no.to_string()
        })
        .collect();
    receipts.sort();
    let expected: Vec<String> = (1..=6).map(|n| format!("{EAST}-000-{n:06}")).collect();
    assert_eq!(receipts, expected);
}

#[test]
fn the_hubs_receipt_series_is_only_for_a_residents_own_filing() {
    // A store numbered 000 (a practice store set up so; no enrolled device ever is) may not
    // file a clerk's request in the hub's series: the series says "filed by the resident",
    // and every replica's one check keeps it so. A resident's own filing may carry it.
    let today = chrono::Utc::now().date_naive().to_string();
    let mut clerk = bianmin_tests::Device::new(CLERK, Role::Clerk, EAST, 0, &today);
    let refused = clerk
        .store
        .file_request(bianmin_tests::social_card_request())
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("the hub's series (000) is only for requests residents file themselves"),
        "{refused}"
    );
    let mut resident = bianmin_tests::Device::new("resident-1", Role::Resident, EAST, 0, &today);
    let filed = resident
        .store
        .file_request(bianmin_tests::social_card_request())
        .unwrap();
    assert!(filed.self_filed());
    let mut tablet = bianmin_tests::Device::new(CLERK, Role::Clerk, EAST, 7, &today);
    let filed = tablet
        .store
        .file_request(bianmin_tests::social_card_request())
        .unwrap();
    assert!(!filed.self_filed(), "a tablet's own series");
}

#[test]
fn every_form_reads_in_the_residents_language() {
    // Chinese pages name every material, attribute and list value by the catalog's Chinese
    // name, never by the English one it records; English pages by the English names.
    let hub = TestHub::start();
    let catalog = hub.storage.reference().unwrap().expect("demo data").catalog;
    let mut b = activated(&hub, RESIDENT);
    let list = b.get("/resident/file").body;
    for item in &catalog.items {
        let zh = b.get(&format!("/resident/file/{}", item.code)).body;
        for (i, m) in item.materials.iter().enumerate() {
            let name = &item.materials_zh[i];
            assert!(zh.contains(name.as_str()), "{}: {name}", item.code);
            assert!(list.contains(name.as_str()), "{} listed: {name}", item.code);
            if name != m {
                assert!(!zh.contains(&format!(">{m}<")), "{}: {m}", item.code);
            }
        }
        for a in &item.attributes {
            assert!(zh.contains(&a.name_zh), "{}.{}", item.code, a.code);
            assert!(!zh.contains(&a.name_en), "{}.{}", item.code, a.code);
            for v_zh in &a.values_zh {
                assert!(
                    zh.contains(&format!(">{v_zh}</option>")),
                    "{}: {v_zh}",
                    a.code
                );
            }
        }
        let en = b.get(&format!("/resident/file/{}?lang=en", item.code)).body;
        for m in &item.materials {
            assert!(en.contains(m.as_str()), "{}: {m}", item.code);
        }
        for a in &item.attributes {
            assert!(en.contains(&a.name_en), "{}.{}", item.code, a.code);
        }
        b.get("/resident/file?lang=zh");
    }
    // A mistake names the attribute in Chinese.
    let a = file(
        &mut b,
        "SOC-CARD",
        &[("id_number", ID_NUMBER), ("phone", PHONE), ("grid", "1组")],
        &[],
    );
    assert!(error_of(&a.body).contains("请填写“申领原因”"), "{}", a.body);
}
