//! Every offline command, on practice stores (`bianmin init`): the whole request lifecycle,
//! edits and comments, lists with their filters, order and paging, and an agenda item through
//! its six stages. What is checked is what a clerk would look at: the status, the history, the
//! list, the masked and revealed personal data.

mod common;

use common::{
    ID_NUMBER, PHONE, assert_no_personal_data, bianmin, file_pension, file_pension_with,
    history_kinds,
};
use serde_json::Value;
use tempfile::TempDir;

const STORE: &str = "east.db";

fn clerk() -> TempDir {
    let dir = tempfile::tempdir().expect("dir");
    common::practice(dir.path(), STORE, &[]);
    dir
}

fn run(dir: &TempDir, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    bianmin(dir.path(), STORE, &full).ok().json()
}

/// Files a request for `item` with these attributes and materials; returns its receipt.
fn file(dir: &TempDir, item: &str, attrs: &[&str], materials: &[&str], grid: &str) -> String {
    let mut args = vec![
        "--quiet",
        "request",
        "file",
        "--item",
        item,
        "--name",
        "欧阳春丰",
        "--id-number",
        ID_NUMBER,
        "--phone",
        PHONE,
        "--grid",
        grid,
    ];
    for a in attrs {
        args.extend(["--attr", a]);
    }
    for m in materials {
        args.extend(["--material", m]);
    }
    bianmin(dir.path(), STORE, &args).ok().line()
}

#[test]
fn a_village_item_is_completed_at_the_village_and_rated() {
    let dir = clerk();
    let r = file(
        &dir,
        "CIV-RESIDENCE-CERT",
        &["purpose=school enrolment"],
        &["ID card"],
        "2组",
    );
    assert_eq!(r, "370883101201-999-000001");
    run(&dir, &["request", "accept", &r]);
    let forward = bianmin(dir.path(), STORE, &["request", "forward", &r]).exits(3);
    assert!(
        forward
            .stderr
            .contains("a village-level item is completed at the village, not forwarded"),
        "{forward}"
    );
    run(&dir, &["request", "complete", &r]);
    let d = run(
        &dir,
        &[
            "request",
            "rate",
            &r,
            "--rating",
            "dissatisfied",
            "--comment",
            "等了很久",
        ],
    );
    assert_eq!(d["status"], "completed");
    assert_eq!(d["rating"], "dissatisfied");
    assert_eq!(
        d["follow_up"], true,
        "a dissatisfied rating opens a follow-up"
    );
    assert_eq!(history_kinds(&d), ["submit", "accept", "complete", "rate"]);

    let page = bianmin(dir.path(), STORE, &["request", "show", &r]).ok();
    assert!(
        page.stdout.contains("不满意 dissatisfied; 等了很久"),
        "{page}"
    );
    assert!(page.stdout.contains("需回访 follow-up needed"), "{page}");
}

#[test]
fn returned_for_supplement_the_clock_pauses_until_the_materials_come_back() {
    let dir = clerk();
    let r = file(
        &dir,
        "AID-DIBAO",
        &["household_members=3", "monthly_income=820.5"],
        &["ID card", "Authorisation to check family finances"],
        "1组",
    );
    // Accepted on the promise that the other two follow (容缺受理), then returned for them.
    for missing in ["Income statement", "Household register (hukou) booklet"] {
        run(
            &dir,
            &[
                "request",
                "waive",
                &r,
                "--material",
                missing,
                "--reason",
                "申请人承诺补交",
            ],
        );
    }
    run(&dir, &["request", "accept", &r]);
    let d = run(
        &dir,
        &[
            "request",
            "return",
            &r,
            "--missing",
            "Income statement",
            "--missing",
            "Household register (hukou) booklet",
            "--note",
            "请一次带齐",
        ],
    );
    assert_eq!(d["status"], "returned");
    assert_eq!(d["clock"]["state"], "paused");
    assert_eq!(
        d["missing_materials"],
        serde_json::json!(["Income statement", "Household register (hukou) booklet"])
    );
    assert_eq!(d["attributes"]["monthly_income"], 820.5);

    let partial = bianmin(
        dir.path(),
        STORE,
        &[
            "request",
            "supplement",
            &r,
            "--provided",
            "Income statement",
        ],
    )
    .exits(3);
    assert!(
        partial
            .stderr
            .contains("provided: still missing: Household register (hukou) booklet"),
        "{partial}"
    );
    let d = run(
        &dir,
        &[
            "request",
            "supplement",
            &r,
            "--provided",
            "Income statement",
            "--provided",
            "Household register (hukou) booklet",
        ],
    );
    assert_eq!(
        d["status"], "accepted",
        "back to where it was returned from"
    );
    assert_eq!(d["clock"]["state"], "running");

    let page = bianmin(dir.path(), STORE, &["request", "show", &r]).ok();
    assert!(
        page.stdout
            .contains("退回补正 return_for_supplement: missing: Income statement, Household register (hukou) booklet; 请一次带齐"),
        "{page}"
    );
}

#[test]
fn acceptance_waits_for_every_material_unless_one_is_waived_with_a_reason() {
    let dir = clerk();
    // SOC-CARD requires an ID card and a recent photo; the applicant brought only the card.
    let r = file(&dir, "SOC-CARD", &["reason=lost"], &["ID card"], "2组");
    let d = run(&dir, &["request", "show", &r]);
    assert_eq!(
        d["outstanding_materials"],
        serde_json::json!(["Recent photo"])
    );
    assert_eq!(d["waived_materials"], serde_json::json!([]));

    let refused = bianmin(dir.path(), STORE, &["request", "accept", &r]).exits(3);
    assert!(
        refused.stderr.contains(
            "accept: materials neither received nor waived: Recent photo; \
             mark them received or waive each with a reason"
        ),
        "{refused}"
    );
    assert_no_personal_data(&refused);
    let as_json = bianmin(dir.path(), STORE, &["--json", "request", "accept", &r]).exits(3);
    assert_eq!(as_json.json()["error"]["field"], "accept", "{as_json}");
    assert_eq!(
        run(&dir, &["request", "show", &r])["status"],
        "submitted",
        "nothing happened to it"
    );

    // A waiver needs a reason.
    let blank = bianmin(
        dir.path(),
        STORE,
        &[
            "request",
            "waive",
            &r,
            "--material",
            "Recent photo",
            "--reason",
            " ",
        ],
    )
    .exits(3);
    assert!(blank.stderr.contains("reason"), "{blank}");

    let d = run(
        &dir,
        &[
            "request",
            "waive",
            &r,
            "--material",
            "Recent photo",
            "--reason",
            "行动不便，乡镇上门拍照",
        ],
    );
    assert_eq!(d["status"], "submitted", "a waiver keeps the status");
    assert_eq!(d["outstanding_materials"], serde_json::json!([]));
    assert_eq!(
        d["waived_materials"],
        serde_json::json!([["Recent photo", "行动不便，乡镇上门拍照"]])
    );

    let d = run(&dir, &["request", "accept", &r]);
    assert_eq!(d["status"], "accepted");
    assert_eq!(history_kinds(&d), ["submit", "waive_material", "accept"]);

    let page = bianmin(dir.path(), STORE, &["request", "show", &r]).ok();
    assert!(
        page.stdout.contains("容缺 Waived")
            && page
                .stdout
                .contains("Recent photo (行动不便，乡镇上门拍照)"),
        "{page}"
    );
    assert!(
        page.stdout
            .contains("容缺 waive_material: Recent photo; 行动不便，乡镇上门拍照"),
        "the history keeps the waiver and its reason: {page}"
    );
    assert!(!page.stdout.contains("未收材料 Outstanding"), "{page}");
}

#[test]
fn drafts_refusals_and_withdrawals() {
    let dir = clerk();
    let draft = bianmin(
        dir.path(),
        STORE,
        &[
            "--quiet",
            "request",
            "file",
            "--draft",
            "--item",
            "CIV-SENIOR-CARD",
            "--name",
            "李四",
            "--id-number",
            ID_NUMBER,
            "--phone",
            PHONE,
            "--grid",
            "3组",
        ],
    )
    .ok()
    .line();
    assert_eq!(run(&dir, &["request", "show", &draft])["status"], "draft");
    assert_eq!(
        run(&dir, &["request", "submit", &draft])["status"],
        "submitted"
    );
    let d = run(
        &dir,
        &[
            "request",
            "refuse",
            &draft,
            "--reason",
            "不属于本村受理范围",
        ],
    );
    assert_eq!(d["status"], "not_accepted");

    let other = file_pension(dir.path(), STORE);
    run(&dir, &["request", "accept", &other]);
    run(&dir, &["request", "forward", &other]);
    let d = run(
        &dir,
        &[
            "request",
            "withdraw",
            &other,
            "--reason",
            "申请人决定明年再办",
        ],
    );
    assert_eq!(d["status"], "withdrawn");
    let again = bianmin(dir.path(), STORE, &["request", "withdraw", &other]).exits(3);
    assert!(again.stderr.contains("withdraw"), "{again}");
}

#[test]
fn edits_and_comments_are_recorded_with_who_changed_what() {
    let dir = clerk();
    // The hukou booklet is brought later and marked received by an edit.
    let r = file_pension_with(dir.path(), STORE, &["ID card"]);
    run(&dir, &["request", "edit", &r, "--phone", "139-0000-1111"]);
    run(&dir, &["request", "edit", &r, "--grid", "3组"]);
    run(
        &dir,
        &["request", "edit", &r, "--attr", "contribution_tier=500"],
    );
    run(
        &dir,
        &[
            "request",
            "edit",
            &r,
            "--material-received",
            "Household register (hukou) booklet",
        ],
    );
    let d = run(&dir, &["request", "comment", &r, "电话已核实"]);
    assert_eq!(d["grid"], "3组");
    assert_eq!(d["attributes"]["contribution_tier"], "500");
    assert_eq!(
        d["applicant"]["phone"], "139****1111",
        "printed masked after the edit"
    );
    assert_eq!(d["comments"][0]["text"], "电话已核实");
    let fields: Vec<&str> = d["edits"]
        .as_array()
        .expect("edits")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        [
            "phone",
            "grid",
            "attributes.contribution_tier",
            "materials.Household register (hukou) booklet"
        ]
    );

    let two = bianmin(
        dir.path(),
        STORE,
        &["request", "edit", &r, "--grid", "1组", "--phone", PHONE],
    )
    .exits(2);
    assert!(two.stderr.contains("cannot be used with"), "{two}");
    assert_no_personal_data(&two);

    let bad = bianmin(
        dir.path(),
        STORE,
        &["request", "edit", &r, "--id-number", "110105194912310021"],
    )
    .exits(3);
    assert!(!bad.stderr.contains("110105194912310021"), "{bad}");
    let required = bianmin(
        dir.path(),
        STORE,
        &["request", "edit", &r, "--clear-attr", "contribution_tier"],
    )
    .exits(3);
    assert!(
        required
            .stderr
            .contains("attributes.contribution_tier: is required and cannot be cleared"),
        "{required}"
    );
}

#[test]
fn pages_mask_the_id_number_and_phone_unless_revealed() {
    let dir = clerk();
    let r = file_pension(dir.path(), STORE);
    let page = bianmin(dir.path(), STORE, &["request", "show", &r]).ok();
    assert!(page.stdout.contains("110105********002X"), "{page}");
    assert!(page.stdout.contains("138****5678"), "{page}");
    assert_no_personal_data(&page);
    let json = run(&dir, &["request", "show", &r]);
    assert_eq!(json["applicant"]["id_number"], "110105********002X");

    let revealed = bianmin(dir.path(), STORE, &["request", "show", &r, "--reveal"]).ok();
    assert!(revealed.stdout.contains(ID_NUMBER) && revealed.stdout.contains(PHONE));

    let list = bianmin(dir.path(), STORE, &["request", "list"]).ok();
    assert!(list.stdout.contains("王*英"), "{list}");
    assert_no_personal_data(&list);
    assert!(
        !list.stdout.contains("王秀英"),
        "lists show the masked name only"
    );
}

#[test]
fn a_page_reads_in_chinese_and_hides_a_bank_account_unless_revealed() {
    let dir = clerk();
    let account = "6222021234567890123";
    let r = file(
        &dir,
        "AID-ELDER-ALLOWANCE",
        &[&format!("bank_account={account}")],
        &["ID card"],
        "1组",
    );
    let page = bianmin(dir.path(), STORE, &["request", "show", &r]).ok();
    // Materials and attributes by the catalog's Chinese names, beside what the options take.
    assert!(page.stdout.contains("居民身份证 ID card"), "{page}");
    assert!(
        page.stdout.contains("银行存折（卡） Bank account booklet"),
        "{page}"
    );
    assert!(
        page.stdout
            .contains("银行账号 bank_account=*******************"),
        "{page}"
    );
    assert!(!page.stdout.contains(account), "{page}");
    assert!(
        !page.stdout.contains("123"),
        "no part of the account: {page}"
    );
    let json = run(&dir, &["request", "show", &r]);
    assert_eq!(
        json["attributes"]["bank_account"],
        "*".repeat(account.len())
    );
    let revealed = bianmin(dir.path(), STORE, &["request", "show", &r, "--reveal"]).ok();
    assert!(revealed.stdout.contains(account), "{revealed}");

    let item = bianmin(dir.path(), STORE, &["catalog", "SOC-PENSION-ENROL"]).ok();
    for words in [
        "户口簿 Household register (hukou) booklet",
        "年缴费档次（元） Annual contribution tier (yuan)",
    ] {
        assert!(item.stdout.contains(words), "{words}: {item}");
    }
}

#[test]
fn lists_filter_sort_and_page() {
    let dir = clerk();
    // Three requests: a same-day item (due today once accepted), a 5-day item, and a
    // submitted one in another grid.
    let cert = file(
        &dir,
        "CIV-RESIDENCE-CERT",
        &["purpose=bank"],
        &["ID card"],
        "2组",
    );
    let pension = file_pension(dir.path(), STORE);
    let card = file(
        &dir,
        "SOC-CARD",
        &["reason=lost"],
        &["ID card", "Recent photo"],
        "3组",
    );
    run(&dir, &["request", "accept", &cert]);
    run(&dir, &["request", "accept", &pension]);

    let receipts = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["--quiet", "request", "list"];
        full.extend_from_slice(args);
        bianmin(dir.path(), STORE, &full)
            .ok()
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        receipts(&[]),
        [cert.as_str(), pension.as_str(), card.as_str()],
        "nearest deadline first, no deadline last"
    );
    assert_eq!(receipts(&["--status", "submitted"]), [card.as_str()]);
    assert_eq!(
        receipts(&["--status", "accepted", "--grid", "1组"]),
        [pension.as_str()]
    );
    assert_eq!(receipts(&["--item", "SOC-CARD"]), [card.as_str()]);
    assert_eq!(receipts(&["--due-soon"]), [cert.as_str()]);
    assert!(receipts(&["--overdue"]).is_empty());
    assert_eq!(
        receipts(&["--village", "370883101201", "--no-conflict"]).len(),
        3
    );
    assert!(receipts(&["--conflict"]).is_empty());
    assert!(receipts(&["--village", "370883101202"]).is_empty());
    assert_eq!(
        receipts(&["--sort", "receipt"]),
        [cert.as_str(), pension.as_str(), card.as_str()]
    );
    assert_eq!(
        receipts(&["--sort", "filed"]),
        [card.as_str(), pension.as_str(), cert.as_str()]
    );
    assert_eq!(receipts(&["--receipt", "370883101201-999-00000"]).len(), 3);
    // Search: part of a receipt number (full-width digits as an input method types them),
    // part of an applicant's name; a day range of filing (all three were filed today).
    let tail = &pension[pension.len() - 3..];
    let full_width: String = tail
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    assert_eq!(
        receipts(&["--receipt-contains", &full_width]),
        [pension.as_str()]
    );
    assert_eq!(receipts(&["--applicant", "秀"]), [pension.as_str()]);
    assert_eq!(
        receipts(&["--applicant", "春丰"]),
        [cert.as_str(), card.as_str()]
    );
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let (yesterday, tomorrow) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let day = |d: chrono::NaiveDate| d.to_string();
    assert_eq!(
        receipts(&["--from", &day(today), "--to", &day(today)]).len(),
        3
    );
    assert!(receipts(&["--from", &day(tomorrow)]).is_empty());
    assert!(receipts(&["--to", &day(yesterday)]).is_empty());
    let backwards = bianmin(
        dir.path(),
        STORE,
        &[
            "request",
            "list",
            "--from",
            &day(today),
            "--to",
            &day(yesterday),
        ],
    )
    .exits(2);
    assert!(backwards.stderr.contains("is after --to"), "{backwards}");
    let counted = run(
        &dir,
        &["request", "list", "--limit", "1", "--applicant", "春丰"],
    );
    assert_eq!(counted["total"], 2);
    assert_eq!(counted["rows"].as_array().unwrap().len(), 1);

    let first = bianmin(dir.path(), STORE, &["request", "list", "--limit", "2"]).ok();
    assert!(
        first
            .stdout
            .contains("第 1–2 条 rows 1–2; 更多 more: --offset 2"),
        "{first}"
    );
    assert!(first.stdout.contains("共 3 条 3 in all"), "{first}");
    assert_eq!(
        receipts(&["--limit", "2", "--offset", "2"]),
        [card.as_str()]
    );
    let none = bianmin(dir.path(), STORE, &["request", "list", "--overdue"]).ok();
    assert!(none.stdout.contains("No requests match"), "{none}");
    let table = bianmin(dir.path(), STORE, &["request", "list"]).ok();
    for label in [
        "受理回执号 Receipt no.",
        "状态 Status",
        "已受理 accepted",
        "已提交 submitted",
    ] {
        assert!(table.stdout.contains(label), "{label}: {table}");
    }
    let bad = bianmin(dir.path(), STORE, &["request", "list", "--limit", "0"]).exits(2);
    assert!(bad.stderr.contains("--limit"), "{bad}");
}

#[test]
fn an_agenda_item_passes_its_six_stages() {
    let dir = clerk();
    let id = bianmin(
        dir.path(),
        STORE,
        &[
            "--quiet",
            "agenda",
            "create",
            "--title",
            "集体鱼塘承包方案",
            "--category",
            "land contracting",
            "--description",
            "Contract the collective fish pond for five years",
        ],
    )
    .ok()
    .line();
    let short = &id[..6];
    let meeting = |body: &str, day: &str, entitled: &str, present: &str, votes_for: &str| {
        run(
            &dir,
            &[
                "agenda",
                "meeting",
                short,
                "--body",
                body,
                "--held-on",
                day,
                "--entitled",
                entitled,
                "--present",
                present,
                "--for",
                votes_for,
                "--minutes",
                "会议记录",
                "--photo",
                "signin.jpg",
            ],
        )
    };
    assert_eq!(
        meeting("party_branch", "2026-11-02", "9", "7", "6")["stage"],
        "consultation"
    );
    // Too few present: recorded, but the stage stays.
    let d = meeting("two_committees", "2026-11-04", "9", "4", "4");
    assert_eq!(d["stage"], "consultation");
    assert_eq!(d["history"][1]["meeting_result"]["result"], "no_quorum");
    assert_eq!(
        meeting("two_committees", "2026-11-05", "9", "8", "7")["stage"],
        "review"
    );
    assert_eq!(
        meeting("party_members", "2026-11-09", "40", "30", "25")["stage"],
        "resolution"
    );
    let out_of_order = bianmin(
        dir.path(),
        STORE,
        &[
            "agenda",
            "resolution-notice",
            short,
            "--text",
            "x",
            "--days",
            "7",
        ],
    )
    .exits(3);
    assert!(
        out_of_order.stderr.contains("resolution_notice"),
        "{out_of_order}"
    );
    assert_eq!(
        meeting("representatives_meeting", "2026-11-12", "35", "30", "20")["stage"],
        "resolution_notice"
    );
    run(
        &dir,
        &[
            "agenda",
            "resolution-notice",
            short,
            "--text",
            "鱼塘承包方案决议",
            "--posted-on",
            "2026-11-13",
            "--days",
            "7",
            "--place",
            "村务公开栏",
        ],
    );
    run(
        &dir,
        &[
            "agenda",
            "objection",
            short,
            "--received-on",
            "2026-11-15",
            "--summary",
            "承包期过长",
            "--response",
            "经村民代表会议讨论维持",
        ],
    );
    let late = bianmin(
        dir.path(),
        STORE,
        &[
            "agenda",
            "objection",
            short,
            "--received-on",
            "2026-12-30",
            "--summary",
            "x",
        ],
    )
    .exits(3);
    assert!(
        late.stderr
            .contains("objections are recorded while a notice is posted"),
        "{late}"
    );
    run(
        &dir,
        &["agenda", "edit", short, "--title", "集体鱼塘五年承包方案"],
    );
    run(&dir, &["agenda", "comment", short, "公示无异议后执行"]);
    let d = run(
        &dir,
        &[
            "agenda",
            "results-notice",
            short,
            "--text",
            "已签订承包合同",
            "--posted-on",
            "2026-11-25",
            "--days",
            "10",
        ],
    );
    assert_eq!(d["stage"], "done");
    assert_eq!(d["title"], "集体鱼塘五年承包方案");
    assert_eq!(d["comments"][0]["text"], "公示无异议后执行");
    assert_eq!(d["history"].as_array().expect("history").len(), 8);

    let page = bianmin(dir.path(), STORE, &["agenda", "show", short]).ok();
    for text in [
        "已完成 done",
        "党支部会议 party_branch 2026-11-02, 7/9 present",
        "不足法定人数 no_quorum",
        "通过 passed",
        "异议 objection: 2026-11-15: 承包期过长; 经村民代表会议讨论维持",
    ] {
        assert!(page.stdout.contains(text), "{text}:\n{page}");
    }
    let list = run(&dir, &["agenda", "list", "--stage", "done"]);
    assert_eq!(list["rows"][0]["id"], id.as_str());
    assert!(
        run(&dir, &["agenda", "list", "--stage", "proposal"])["rows"]
            .as_array()
            .expect("rows")
            .is_empty()
    );
    let settle = bianmin(
        dir.path(),
        STORE,
        &["agenda", "settle", short, "--keep", "abcd", "--note", "x"],
    )
    .exits(3);
    assert!(settle.stderr.contains("keep"), "{settle}");
}

#[test]
fn catalog_status_and_refused_on_a_practice_store() {
    let dir = clerk();
    let catalog = bianmin(dir.path(), STORE, &["catalog"]).ok();
    assert!(catalog.stdout.contains("AID-DIBAO") && catalog.stdout.contains("最低生活保障申请"));
    let item = bianmin(dir.path(), STORE, &["catalog", "AID-DIBAO"]).ok();
    for text in [
        "monthly_income",
        "Income statement",
        "30 工作日 working days",
    ] {
        assert!(item.stdout.contains(text), "{text}: {item}");
    }
    let unknown = bianmin(dir.path(), STORE, &["catalog", "NOPE"]).exits(3);
    assert!(unknown.stderr.contains("item_code"), "{unknown}");

    let status = bianmin(dir.path(), STORE, &["status"]).ok();
    assert!(
        status
            .stdout
            .contains("未登记 not enrolled (practice store)"),
        "{status}"
    );
    assert!(
        status.stdout.contains("370883101201 东村 East Village"),
        "{status}"
    );
    let refused = bianmin(dir.path(), STORE, &["refused"]).ok();
    assert!(refused.stdout.contains("No refused edits"), "{refused}");

    let reviewer = tempfile::tempdir().expect("dir");
    common::practice(
        reviewer.path(),
        "taiping.db",
        &["--role", "reviewer", "--area", "370883101", "--user", "r1"],
    );
    let file = bianmin(
        reviewer.path(),
        "taiping.db",
        &[
            "request",
            "file",
            "--item",
            "SOC-CARD",
            "--name",
            "王秀英",
            "--id-number",
            ID_NUMBER,
            "--phone",
            PHONE,
            "--grid",
            "1组",
        ],
    )
    .exits(3);
    assert!(file.stderr.contains("not permitted"), "{file}");
    let bad_area = bianmin(
        reviewer.path(),
        "x.db",
        &["init", "--role", "clerk", "--area", "370883"],
    )
    .exits(3);
    assert!(bad_area.stderr.contains("identity.area"), "{bad_area}");
}

#[test]
fn a_public_text_that_looks_like_personal_data_is_written_with_a_warning() {
    let dir = clerk();
    let create = bianmin(
        dir.path(),
        STORE,
        &[
            "--json",
            "agenda",
            "create",
            "--title",
            "土地补偿款发放",
            "--category",
            "compensation",
            "--description",
            "户主身份证 110105 19491231 002X，面积 1200 平方米",
        ],
    )
    .ok();
    assert_eq!(
        create.json()["description"],
        "户主身份证 110105 19491231 002X，面积 1200 平方米",
        "written as typed: a warning, not a refusal"
    );
    assert!(
        create
            .stderr
            .contains("warning: description looks like it holds an ID number (身份证号码)"),
        "{create}"
    );
    let id = create.json()["id"].as_str().expect("id").to_string();
    for (body, day) in [
        ("party_branch", "2026-11-02"),
        ("two_committees", "2026-11-04"),
        ("party_members", "2026-11-09"),
        ("representatives_meeting", "2026-11-12"),
    ] {
        let args = [
            "agenda",
            "meeting",
            &id,
            "--body",
            body,
            "--held-on",
            day,
            "--entitled",
            "9",
            "--present",
            "9",
            "--for",
            "9",
            "--minutes",
            "记录人电话 13812345678",
        ];
        let meeting = bianmin(dir.path(), STORE, &args).ok();
        assert!(
            !meeting.stderr.contains("warning"),
            "minutes are not public: {meeting}"
        );
    }
    let notice = bianmin(
        dir.path(),
        STORE,
        &[
            "--quiet",
            "agenda",
            "resolution-notice",
            &id,
            "--text",
            "补偿款咨询 +86 138 1234 5678，打入账户 6222 0212 3456 7890 123",
            "--posted-on",
            "2026-11-13",
            "--days",
            "7",
            "--place",
            "村务公开栏",
        ],
    )
    .ok();
    assert_eq!(notice.line(), id, "--quiet output unchanged");
    let lines: Vec<&str> = notice.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line per text: {notice}");
    assert!(
        lines[0].starts_with(
            "warning: notice.text looks like it holds a mobile number (手机号码), \
             a bank card or other long number (银行卡号等长号码)"
        ),
        "{notice}"
    );
    let edit = bianmin(
        dir.path(),
        STORE,
        &["agenda", "edit", &id, "--title", "补偿款发放（2026年11月）"],
    )
    .ok();
    assert!(
        !edit.stderr.contains("warning"),
        "dates are not personal: {edit}"
    );
}
