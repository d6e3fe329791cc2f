//! Every page a signed-in reviewer and administrator can reach, crawled (issue 17): no personal
//! number shown in full anywhere, and no English-only label on a Chinese page.
//!
//! A hub of the backend `BIANMIN_TEST_BACKEND` chooses (SQLite by default, or PostgreSQL) holds
//! requests in every status a reviewer meets (submitted, accepted, forwarded and overdue,
//! returned, approved, rejected, completed at the village, in conflict), filed by the village
//! clerk's real tablet for applicants with 18-character ID numbers and mobile numbers, sensitive
//! attributes (a bank account, a pension account), personal numbers typed into comments, reasons
//! and notes, a field edit; a request an application filed through Open311; an agenda item
//! through its four meetings to its public notice. The reviewer's decisions are taken in the
//! console, as a reviewer takes them.
//!
//! Then the demo reviewer and the administrator, each in a browser of their own, start at
//! `/console` (and the queue of every status) and follow every same-origin `<a href>` (GET
//! only: no form is ever sent, so no reveal; never the sign-out; the language switch neither,
//! the language is the browser's cookie), in Chinese and in English, the four crawls side by
//! side. Every answer must be 200 (redirects followed): a
//! broken link (4xx) or a failure (5xx) is listed. Every page and every download (CSV, XLSX,
//! JSON) is searched, text and attribute values, for each seeded number in full (also with its
//! separators left out) and for anything shaped like an ID number or a mobile number. On the
//! Chinese pages the visible text (and the labels in `title`, `aria-label`, `placeholder`, `alt`
//! and buttons' values) must hold no Latin word but the few the allow-list below names, each
//! with its reason, and none of the catalog's English names.
//!
//! Last, the reveal (a POST with the session's form token, as the console's button sends it):
//! the one value in full, once, and an entry in the request's record of reveals.

mod common;

use common::{ADMIN, CLERK, PASSWORD, REVIEWER};

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_document::model::FieldEdit;
use bianmin_domain::{
    Action, AgendaAction, AttrValue, Catalog, NationalId, Objection, PersonalNumberKind, Phone,
    Timestamp, demo, find_personal_numbers,
};
use bianmin_server::admin;
use bianmin_tests::hub::{TestHub, quick};
use bianmin_tests::phone::Phone as Http;
use chrono::Days;
use uuid::Uuid;

const EAST: &str = "370883101201";
const TAIPING: &str = "370883101";

/// The most answers one crawl may fetch: far more than the seeded hub has pages, so reaching it
/// means links that never end (a query growing at each step), which is a failure.
const MAX_PAGES: usize = 2000;

// ---------------------------------------------------------------------------------------------
// The people and their numbers

/// An applicant as the clerk types them.
struct Person {
    name: &'static str,
    id_number: &'static str,
    phone: &'static str,
}

// Fictitious ID numbers of the demo county (370883), each with its GB 11643 check digit (one
// an `X`), and mobile numbers.
const ZHOU: Person = Person {
    name: "周桂兰",
    id_number: "370883193009090076",
    phone: "13500001111",
};
const SUN: Person = Person {
    name: "孙志强",
    id_number: "37088319601122003X",
    phone: "13600002222",
};
const LIU: Person = Person {
    name: "刘玉珍",
    id_number: "370883194501010060",
    phone: "13700003333",
};
const ZHAO: Person = Person {
    name: "赵德明",
    id_number: "370883195203140021",
    phone: "15000004444",
};
const CHEN: Person = Person {
    name: "陈秀英",
    id_number: "370883197510050041",
    phone: "15100005555",
};
const LI: Person = Person {
    name: "李建国",
    id_number: "370883198807070056",
    phone: "18600006666",
};
const HUANG: Person = Person {
    name: "黄淑芬",
    id_number: "370883194811110016",
    phone: "18700007777",
};
/// Withdrawn at the village while the township approved: a conflict.
const WU: Person = Person {
    name: "吴海燕",
    id_number: "370883196904120052",
    phone: "13300001212",
};
/// Filed by an application through Open311.
const GUIYING: Person = Person {
    name: "李桂英",
    id_number: "370883196207150045",
    phone: "13912345678",
};

/// 刘玉珍's phone after the clerk corrected it (a field edit).
const LIU_NEW_PHONE: &str = "13900009999";
/// Bank accounts (sensitive attributes): one typed in groups of four, as a passbook prints it.
const ZHOU_BANK: &str = "6217002710000123456";
const LIU_BANK: &str = "6228 4800 2345 6789 012";
const CHEN_BANK: &str = "6217000011112222333";
/// A pension account number (sensitive).
const HUANG_PENSION: &str = "3708830001234567";
/// Numbers typed into free text: a relative's phone in full-width digits, the village office's
/// phone in a return's note, the account in an approval's note, an ID in a rejection's reason,
/// the notice's contact and an ID in an agenda comment.
const RELATIVE_PHONE: &str = "１３７ １２３４ ５６７８";
const RELATIVE_PHONE_ASCII: &str = "13712345678";
const OFFICE_PHONE: &str = "13800138000";
const NOTICE_PHONE: &str = "159-0000-8888";
const AGENDA_ID: &str = "370883195706030094";

/// Every personal number seeded, as typed.
fn secrets() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = [ZHOU, SUN, LIU, ZHAO, CHEN, LI, HUANG, WU, GUIYING]
        .iter()
        .flat_map(|p| [p.id_number, p.phone])
        .collect();
    all.extend([
        LIU_NEW_PHONE,
        ZHOU_BANK,
        LIU_BANK,
        CHEN_BANK,
        HUANG_PENSION,
        RELATIVE_PHONE,
        RELATIVE_PHONE_ASCII,
        OFFICE_PHONE,
        NOTICE_PHONE,
        AGENDA_ID,
    ]);
    all
}

fn request(item: &str, p: &Person, attributes: &[(&str, &str)], materials: &[&str]) -> NewRequest {
    NewRequest {
        item_code: item.into(),
        applicant_name: p.name.into(),
        id_number: p.id_number.into(),
        phone: p.phone.into(),
        grid: "2组".into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), AttrValue::Text(v.to_string())))
            .collect(),
        materials_received: materials.iter().map(|m| m.to_string()).collect(),
        resident_user: None,
        submit: true,
    }
}

fn allowance(p: &Person, account: &str) -> NewRequest {
    request(
        "AID-ELDER-ALLOWANCE",
        p,
        &[("bank_account", account)],
        &["ID card", "Bank account booklet"],
    )
}

fn social_card(p: &Person) -> NewRequest {
    request(
        "SOC-CARD",
        p,
        &[("reason", "lost")],
        &["ID card", "Recent photo"],
    )
}

// ---------------------------------------------------------------------------------------------
// A browser over real HTTP

/// A browser signed in to the console as `name`, reading pages in `lang` (`zh-CN` or `en`, as
/// the language switch leaves it in the cookie).
fn signed_in(hub: &TestHub, name: &str, lang: &str) -> Http {
    let mut b = Http::new(&hub.url);
    let a = b.console_sign_in(name, PASSWORD);
    assert_eq!(a.status, 303, "{name}: {}", a.body);
    b.cookies.insert("lang".into(), lang.into());
    b
}

// ---------------------------------------------------------------------------------------------
// The hub and what it holds

/// What the test filed, by what a reviewer sees of it.
struct Seeded {
    submitted: Uuid,
    accepted: Uuid,
    /// Forwarded, accepted 40 days ago: overdue.
    forwarded: Uuid,
    returned: Uuid,
    approved: Uuid,
    rejected: Uuid,
    completed: Uuid,
    /// Withdrawn on the tablet and approved in the console meanwhile.
    conflict: Uuid,
    open311: Uuid,
    agenda: Uuid,
}

fn stored_status(hub: &TestHub, id: Uuid) -> bianmin_domain::Status {
    let doc = hub.storage.document(id).unwrap().expect("stored");
    bianmin_document::Document::load(&doc.bytes)
        .unwrap()
        .request_status()
        .expect("a request")
}

/// The clerk files (on the tablet), the reviewer decides (in the console), an application files
/// through Open311.
fn seed(hub: &TestHub, tablet_dir: &std::path::Path) -> Seeded {
    let s = hub.storage.as_ref();
    for name in [REVIEWER, ADMIN] {
        admin::set_password(s, name, Some(PASSWORD)).unwrap();
    }
    let clerk: Mutex<Store> = Mutex::new(hub.enrol(CLERK, tablet_dir, "east-tablet"));
    let today = Timestamp::now().china_date();
    let seeded = {
        let mut t = clerk.lock().unwrap();
        let file = |t: &mut Store, new: NewRequest, actions: &[Action]| {
            let id = t.file_request(new).unwrap().id;
            for a in actions {
                t.apply(id, a.clone()).unwrap();
            }
            id
        };
        let accept_forward = [Action::Accept, Action::Forward];
        let submitted = file(&mut t, allowance(&ZHOU, ZHOU_BANK), &[]);
        let accepted = file(&mut t, social_card(&SUN), &[Action::Accept]);
        t.comment(accepted, &format!("家属电话 {RELATIVE_PHONE}，白天联系"))
            .unwrap();
        // Filed 40 days ago with a phone number the clerk then corrected (a field edit), accepted
        // and forwarded: overdue today.
        let at = Timestamp::at_noon(today - Days::new(40));
        t.set_clock(Arc::new(move || at));
        let forwarded = file(&mut t, allowance(&LIU, LIU_BANK), &[]);
        t.edit(forwarded, FieldEdit::Phone(LIU_NEW_PHONE.into()))
            .unwrap();
        for a in accept_forward.clone() {
            t.apply(forwarded, a).unwrap();
        }
        t.set_clock(Arc::new(Timestamp::now));
        let dibao = request(
            "AID-DIBAO",
            &ZHAO,
            &[],
            &[
                "ID card",
                "Household register (hukou) booklet",
                "Income statement",
                "Authorisation to check family finances",
            ],
        );
        let dibao = NewRequest {
            attributes: [
                ("household_members".to_string(), AttrValue::Number(2.0)),
                ("monthly_income".to_string(), AttrValue::Number(650.0)),
            ]
            .into(),
            ..dibao
        };
        let returned = file(&mut t, dibao, &accept_forward);
        let approved = file(&mut t, allowance(&CHEN, CHEN_BANK), &accept_forward);
        let rejected = file(&mut t, social_card(&LI), &accept_forward);
        let pension = request(
            "SOC-PENSION-CERT",
            &HUANG,
            &[("pension_account", HUANG_PENSION)],
            &["ID card"],
        );
        let completed = file(&mut t, pension, &[Action::Accept, Action::Complete]);
        let conflict = file(&mut t, social_card(&WU), &accept_forward);
        let item = bianmin_tests::agenda_to_resolution_notice(
            &mut t,
            "东村集体林地承包方案",
            &format!("公示期内如有异议，请联系村委 {NOTICE_PHONE}"),
            today,
        );
        t.edit_agenda(
            item.id,
            bianmin_document::model::AgendaEdit::Category("集体资产".into()),
        )
        .unwrap();
        t.record_agenda(
            item.id,
            AgendaAction::Objection(Objection {
                received_on: today,
                summary: "承包期限过长".into(),
                response: "已在会上说明".into(),
            }),
        )
        .unwrap();
        t.comment_agenda(item.id, &format!("户主身份证 {AGENDA_ID} 已核对"))
            .unwrap();
        Seeded {
            submitted,
            accepted,
            forwarded,
            returned,
            approved,
            rejected,
            completed,
            conflict,
            open311: Uuid::nil(),
            agenda: item.id,
        }
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    // The reviewer decides in the console: a return, an approval, a rejection, each with a
    // personal number typed into its text.
    let mut b = signed_in(hub, REVIEWER, "zh-CN");
    let decide = |b: &mut Http, id: Uuid, action: &str, fields: &[(&str, &str)]| {
        let url = format!("/console/requests/{id}");
        let a = b.submit(&url, &format!("{url}/{action}"), fields);
        assert_eq!(a.status, 303, "{action}: {}", a.body);
    };
    let note = format!("请补交收入证明，可联系村委 {OFFICE_PHONE}");
    decide(
        &mut b,
        seeded.returned,
        "return",
        &[("missing", "Income statement"), ("note", &note)],
    );
    let note = format!("已核实，发放至账户 {CHEN_BANK}");
    decide(
        &mut b,
        seeded.approved,
        "approve",
        &[("note", &note), ("confirm", "yes")],
    );
    let reason = format!("身份证 {} 已注销，请先补办身份证", LI.id_number);
    decide(
        &mut b,
        seeded.rejected,
        "reject",
        &[("reason", &reason), ("confirm", "yes")],
    );
    b.submit(
        &format!("/console/requests/{}", seeded.forwarded),
        &format!("/console/requests/{}/comment", seeded.forwarded),
        &[("text", &format!("已电话核实 {LIU_NEW_PHONE}"))],
    );

    // Offline at the village 吴海燕 withdraws (the clerk notes her phone in the reason), while
    // the township approves: a conflict, shown side by side.
    let withdraw = Action::Withdraw {
        reason: format!("申请人来电（{}）撤回", WU.phone),
    };
    clerk
        .lock()
        .unwrap()
        .apply(seeded.conflict, withdraw)
        .unwrap();
    decide(&mut b, seeded.conflict, "approve", &[("confirm", "yes")]);
    let report = sync(&clerk, &quick(), &mut |_| {}).expect("sync");
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    // An application files for 李桂英 through Open311 (a request of the hub's own series).
    let key = admin::issue_open311_key(s, TAIPING, "12345 便民热线").unwrap();
    let form = [
        ("api_key", key.key.as_str()),
        ("service_code", "SOC-CARD"),
        ("jurisdiction_id", EAST),
        ("first_name", "桂英"),
        ("last_name", "李"),
        ("phone", GUIYING.phone),
        ("attribute[id_number]", GUIYING.id_number),
        ("attribute[grid]", "2组"),
        ("attribute[reason]", "lost"),
        ("description", "老人卧床不便，社保卡遗失，请上门代办"),
    ];
    let r = bianmin_tests::raw::agent()
        .post(&format!("{}/open311/v2/requests.json", hub.url))
        .send_form(form.iter().copied())
        .expect("the hub answers");
    assert_eq!(r.status().as_u16(), 200);
    let open311 = hub
        .storage
        .request_by_receipt("370883101201-000-000001")
        .unwrap()
        .expect("the Open311 filing is stored");

    use bianmin_domain::Status::*;
    for (id, status) in [
        (seeded.submitted, Submitted),
        (seeded.accepted, Accepted),
        (seeded.forwarded, Forwarded),
        (seeded.returned, Returned),
        (seeded.approved, Approved),
        (seeded.rejected, Rejected),
        (seeded.completed, Completed),
        (open311, Submitted),
    ] {
        assert_eq!(stored_status(hub, id), status, "{id}");
    }
    Seeded { open311, ..seeded }
}

// ---------------------------------------------------------------------------------------------
// Reading a page

/// A start tag.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    english: bool,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The attributes people read as labels: tooltips, screen readers' names, placeholders,
    /// image descriptions, the words on `<input>` buttons.
    fn labels(&self) -> impl Iterator<Item = &str> {
        let button = self.name == "input"
            && matches!(self.attr("type"), Some("submit" | "button" | "reset"));
        self.attrs.iter().filter_map(move |(n, v)| {
            let label = matches!(n.as_str(), "title" | "aria-label" | "placeholder" | "alt")
                || (button && n == "value");
            label.then_some(v.as_str())
        })
    }
}

/// A piece of visible text (entities decoded).
#[derive(Debug)]
struct Text {
    text: String,
    /// Inside an element marked `lang="en"`: English on purpose (the language switch, an
    /// English name shown as such).
    english: bool,
    /// Inside `<code>`: a code, shown as one.
    code: bool,
}

/// A page taken apart: its text, its attributes, its links.
#[derive(Debug, Default)]
struct Parsed {
    /// Each piece of visible text.
    text: Vec<Text>,
    /// Each element's attributes (values decoded), and whether it is English on purpose.
    elements: Vec<Element>,
    /// The `href` of every `<a>`.
    links: Vec<String>,
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Takes the hub's HTML apart (well-formed, as maud writes it): text outside `<script>` and
/// `<style>`, attributes, links, with the language each sits in.
fn parse(html: &str) -> Parsed {
    let mut p = Parsed::default();
    // Open elements: name, and whether their content is English on purpose.
    let mut open: Vec<(String, bool)> = Vec::new();
    let english = |open: &Vec<(String, bool)>| open.last().is_some_and(|e| e.1);
    let in_code = |open: &Vec<(String, bool)>| open.iter().any(|e| e.0 == "code");
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            i += rest.find("-->").map_or(rest.len(), |e| e + 3);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            i += rest.find('>').map_or(rest.len(), |e| e + 1);
        } else if let Some(close) = rest.strip_prefix("</") {
            let end = close.find('>').unwrap_or(close.len());
            let name = close[..end].trim().to_ascii_lowercase();
            if let Some(at) = open.iter().rposition(|(n, _)| *n == name) {
                open.truncate(at);
            }
            i += 2 + end + 1;
        } else if rest.starts_with('<') && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic())
        {
            // A start tag: its name, then attributes until `>` (values quoted with `"`).
            let name_end = rest[1..]
                .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                .map_or(rest.len(), |e| e + 1);
            let name = rest[1..name_end].to_ascii_lowercase();
            let mut j = name_end;
            let mut attrs: Vec<(String, String)> = Vec::new();
            let mut self_closing = false;
            loop {
                let r = &rest[j..];
                let r_trim = r.trim_start();
                j += r.len() - r_trim.len();
                if r_trim.is_empty() {
                    break;
                }
                if r_trim.starts_with('>') {
                    j += 1;
                    break;
                }
                if r_trim.starts_with("/>") {
                    self_closing = true;
                    j += 2;
                    break;
                }
                let n_end = r_trim
                    .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>' || c == '/')
                    .unwrap_or(r_trim.len())
                    .max(1);
                let attr = r_trim[..n_end].to_ascii_lowercase();
                j += n_end;
                let value = if rest[j..].starts_with("=\"") {
                    let v_end = rest[j + 2..].find('"').expect("a closed attribute value");
                    let v = decode(&rest[j + 2..j + 2 + v_end]);
                    j += 2 + v_end + 1;
                    v
                } else if rest[j..].starts_with('=') {
                    let v = &rest[j + 1..];
                    let v_end = v
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .unwrap_or(v.len());
                    j += 1 + v_end;
                    decode(&v[..v_end])
                } else {
                    String::new()
                };
                attrs.push((attr, value));
            }
            let lang = attrs.iter().find(|(n, _)| n == "lang").map(|(_, v)| v);
            let en = match lang {
                Some(l) => l.starts_with("en"),
                None => english(&open),
            };
            let element = Element {
                name: name.clone(),
                attrs,
                english: en,
            };
            if let Some(href) = element.attr("href").filter(|_| name == "a") {
                p.links.push(href.to_string());
            }
            p.elements.push(element);
            i += j;
            if name == "script" || name == "style" {
                let end = format!("</{name}");
                i += html[i..].find(&end).unwrap_or(html.len() - i);
            } else if !self_closing && !VOID.contains(&name.as_str()) {
                open.push((name, en));
            }
        } else {
            // Up to the next tag (a `<` that starts none is text).
            let skip = usize::from(rest.starts_with('<'));
            let end = rest[skip..].find('<').map_or(rest.len(), |e| e + skip);
            let text = decode(&rest[..end]);
            if !text.trim().is_empty() {
                p.text.push(Text {
                    text,
                    english: english(&open),
                    code: in_code(&open),
                });
            }
            i += end;
        }
    }
    p
}

// ---------------------------------------------------------------------------------------------
// What a page must not show

/// Full-width digits and `Ｘ` as ASCII: the numbers as a reader reads them.
fn ascii_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap(),
            'Ｘ' => 'X',
            'ｘ' => 'x',
            c => c,
        })
        .collect()
}

/// What is wrong with `text` as to personal numbers: a seeded number in full (as typed, or
/// with its separators left out), or a run of letters and digits shaped like an ID number
/// (17 digits and a digit or `X`) or a mainland mobile number (`1[3-9]` and 9 digits). With
/// `prose`, also what the domain's own finder reads as an ID or mobile number however
/// written (visible text and downloads; not attributes, which carry random tokens).
fn number_leaks(text: &str, secrets: &[&str], prose: bool) -> Vec<String> {
    let text = ascii_digits(text);
    let mut found = Vec::new();
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '·'))
        .collect();
    for secret in secrets {
        let secret = ascii_digits(secret);
        let digits: String = secret
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        if text.contains(&secret) || squeezed.contains(&digits) {
            found.push(format!("the seeded number {secret}"));
        }
    }
    for run in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let b = run.as_bytes();
        let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        if b.len() == 18
            && digits(&b[..17])
            && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
        {
            found.push(format!("an ID number {run}"));
        }
        if b.len() == 11 && digits(b) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
            found.push(format!("a mobile number {run}"));
        }
    }
    if prose {
        for n in find_personal_numbers(&text) {
            if matches!(
                n.kind,
                PersonalNumberKind::NationalId | PersonalNumberKind::Mobile
            ) {
                found.push(format!("{:?} {}", n.kind, &text[n.range]));
            }
        }
    }
    found
}

/// Latin words a Chinese page may show, each for its reason. Anything else of three letters or
/// more is an English-only label.
const ALLOWED_WORDS: &[&str] = &[
    // File formats the export links and the notices name: people know them by these names
    // (`导出 CSV`, `Excel（XLSX）`, `另存为 PDF`), as they appear in the spreadsheet program.
    "CSV", "XLSX", "Excel", "JSON", "PDF",
    // The key printed on the keyboard (`Ctrl+P` to print).
    "Ctrl",
    // "API 密钥": the term Chinese software uses as it is for an application's key (the
    // administrators' page of Open311 keys).
    "API",
    // The HTTP method an application sends, written before the address it sends it to
    // (`POST /open311/v2/requests`) for the application's developers, as the specification
    // writes it.
    "POST",
];

/// Whole tokens a Chinese page may show because the data itself carries them: codes, not words.
fn data_tokens(hub: &TestHub, catalog: &Catalog) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    // Sign-in names (`reviewer-taiping`): what a user types to sign in, in any language.
    for u in hub.storage.users().unwrap() {
        tokens.insert(u.name);
    }
    // Devices' names as their users gave them at enrolment (`east-tablet`).
    for d in hub.storage.devices().unwrap() {
        tokens.insert(d.name);
    }
    // Service items' codes (`AID-ELDER-ALLOWANCE`), printed beside their Chinese names.
    for item in &catalog.items {
        tokens.insert(item.code.clone());
    }
    // The name of the standard applications file through and of its version, as the
    // specification spells them (`Open311 GeoReport v2`).
    tokens.insert("Open311".into());
    tokens.insert("GeoReport".into());
    // The shape of a resident's activation code (Latin capitals), as the resident pages show
    // it for an example (`激活码（例如 ABCDE-FGHJK）`).
    tokens.insert("ABCDE-FGHJK".into());
    tokens
}

/// The catalog's English names that have a Chinese one (items, materials, attributes, listed
/// values): none may appear on a Chinese page.
fn catalog_english(catalog: &Catalog) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |en: &str, zh: &str| {
        if en != zh && en.chars().filter(char::is_ascii_alphabetic).count() >= 3 {
            names.insert(en.to_string());
        }
    };
    for item in &catalog.items {
        add(&item.name_en, &item.name_zh);
        for (m, zh) in item.materials.iter().zip(&item.materials_zh) {
            add(m, zh);
        }
        for a in &item.attributes {
            add(&a.name_en, &a.name_zh);
            for (v, zh) in a.values.iter().zip(&a.values_zh) {
                add(v, zh);
            }
        }
    }
    names
}

/// Whether `needle` is in `text` as a whole word (no ASCII letter right before or after it).
fn has_word(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphabetic())
            && !after.is_some_and(|c| c.is_ascii_alphabetic())
    })
}

/// The English-only words in `text` of a Chinese page, with a little context.
fn english_words(
    text: &str,
    data: &BTreeSet<String>,
    catalog_en: &BTreeSet<String>,
) -> Vec<String> {
    let mut found = Vec::new();
    let is_token = |c: char| c.is_ascii_alphanumeric() || "-_./:@+#%?=&~".contains(c);
    for token in text.split(|c: char| !is_token(c)) {
        let token = token.trim_end_matches(['.', ':', ',', ';']);
        // An address or a file's path shown as text (`/console`, `http://…/lookup`,
        // `domain/demo/service-items.json`).
        if token.contains('/') {
            continue;
        }
        // The first eight hexadecimal digits of a change's hash or an event's id (`3d87fec6`),
        // which the history and the hub's record show to tell them apart.
        if token.len() == 8 && token.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            continue;
        }
        if data.contains(token) {
            continue;
        }
        let bad = token
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|w| w.len() >= 3 && !ALLOWED_WORDS.contains(&w));
        if bad {
            found.push(context(text, token));
        }
    }
    for name in catalog_en {
        if has_word(text, name) {
            found.push(format!(
                "the catalog's English name {name:?} in {}",
                context(text, name)
            ));
        }
    }
    found
}

/// `needle` with up to 30 characters either side in `text`.
fn context(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let before: String = text[..at]
        .chars()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = text[at + needle.len()..].chars().take(30).collect();
    format!(
        "{needle:?} in «{}»",
        format!("{before}{needle}{after}")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    )
}

// ---------------------------------------------------------------------------------------------
// The crawl

/// What every crawl checks against.
struct Checks {
    secrets: Vec<&'static str>,
    data: BTreeSet<String>,
    catalog_en: BTreeSet<String>,
    /// The catalog's attribute codes (`bank_account`).
    attribute_codes: BTreeSet<String>,
    /// The sensitive attributes' labels in both languages.
    sensitive_labels: BTreeSet<String>,
}

/// What one crawl found.
#[derive(Debug, Default)]
struct Crawled {
    /// Answers fetched (pages and downloads, redirects not counted).
    answers: usize,
    html: usize,
    downloads: usize,
    /// The kinds of page (path with ids as `{id}`) that show a sensitive attribute.
    sensitive_pages: BTreeSet<String>,
    /// The kinds of page crawled.
    kinds: BTreeSet<String>,
    failures: Vec<String>,
}

/// A path with its ids (UUIDs, users' `u-…`, numbers, hex digests) written `{id}`, without
/// the query.
fn kind_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            let hex = |s: &str| s.len() >= 12 && s.chars().all(|c| c.is_ascii_hexdigit());
            if Uuid::parse_str(seg).is_ok()
                || hex(seg)
                || seg.strip_prefix("u-").is_some_and(hex)
                || (!seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()))
            {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Where `href` on the page at `page` leads, as a path and query on this hub (no fragment),
/// or `None` for another site, another scheme, the language switch or the sign-out.
fn resolve(base: &url::Url, page: &str, href: &str) -> Option<String> {
    let here = base.join(page).ok()?;
    let mut to = here.join(href).ok()?;
    if to.origin() != base.origin() {
        return None;
    }
    to.set_fragment(None);
    if to.path() == "/console/sign-out" {
        return None;
    }
    // The language switch: each crawl keeps to the language of its browser's cookie.
    if to.query_pairs().any(|(k, _)| k == "lang") {
        return None;
    }
    Some(match to.query() {
        Some(q) => format!("{}?{q}", to.path()),
        None => to.path().to_string(),
    })
}

/// Crawls from `/console` as `b` reads pages; `chinese` adds the check of English-only labels.
fn crawl(b: &mut Http, who: &str, chinese: bool, checks: &Checks) -> Crawled {
    let base = url::Url::parse(b.base()).unwrap();
    let mut out = Crawled::default();
    let mut queue: VecDeque<(String, String)> = VecDeque::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // `/console`, and the queue of every status: a reviewer's queue opens on what waits for
    // them, and they reach the rest by choosing "全部状态" in the queue's filter (a GET form).
    for start in ["/console", "/console/requests?status=all"] {
        queue.push_back((start.into(), "(start)".into()));
        seen.insert(start.into());
    }
    let lang = if chinese { "zh" } else { "en" };
    while let Some((path, from)) = queue.pop_front() {
        if out.answers >= MAX_PAGES {
            out.failures.push(format!(
                "{who}/{lang}: the crawl reached {MAX_PAGES} answers with {} links to go",
                queue.len() + 1
            ));
            break;
        }
        let a = b.get(&path);
        let mut enqueue = |to: String, queue: &mut VecDeque<(String, String)>| {
            if seen.insert(to.clone()) {
                queue.push_back((to, path.clone()));
            }
        };
        if (300..400).contains(&a.status) {
            let to = a.location.as_deref().and_then(|l| resolve(&base, &path, l));
            match to {
                Some(to) if to.starts_with("/console/sign-in") => out.failures.push(format!(
                    "{who}/{lang}: {path} (linked from {from}) sends a signed-in user to sign in: {to}"
                )),
                Some(to) => enqueue(to, &mut queue),
                None => {}
            }
            continue;
        }
        out.answers += 1;
        if a.status != 200 {
            let what = if a.status >= 500 {
                "fails"
            } else {
                "is a broken link"
            };
            out.failures.push(format!(
                "{who}/{lang}: {path} (linked from {from}) {what}: {}",
                a.status
            ));
            continue;
        }
        let kind = kind_of(&path);
        out.kinds.insert(kind.clone());
        let content_type = a.header("content-type").unwrap_or_default().to_string();
        let mut fail = |what: String| {
            out.failures
                .push(format!("{who}/{lang}: {path} (from {from}): {what}"))
        };
        if content_type.starts_with("text/html") {
            out.html += 1;
            let page = parse(&a.body);
            let visible: String = page
                .text
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            for leak in number_leaks(&visible, &checks.secrets, true) {
                fail(format!("shows {leak}"));
            }
            for e in &page.elements {
                for (name, value) in &e.attrs {
                    for leak in number_leaks(value, &checks.secrets, false) {
                        fail(format!("<{} {name}> holds {leak}", e.name));
                    }
                }
            }
            if page
                .text
                .iter()
                .any(|t| checks.sensitive_labels.contains(t.text.trim()))
            {
                out.sensitive_pages.insert(kind.clone());
            }
            if chinese {
                let text = page
                    .text
                    .iter()
                    .filter(|t| !t.english)
                    // An attribute's code shown as a code beside its label (the administrators'
                    // catalog pages): the key requests store its value under.
                    .filter(|t| !(t.code && checks.attribute_codes.contains(t.text.trim())))
                    .map(|t| t.text.as_str());
                let attrs = page
                    .elements
                    .iter()
                    .filter(|e| !e.english)
                    .flat_map(Element::labels);
                let labels: Vec<&str> = text.chain(attrs).collect();
                for label in labels {
                    for word in english_words(label, &checks.data, &checks.catalog_en) {
                        fail(format!("English on a Chinese page: {word}"));
                    }
                }
            }
            for href in &page.links {
                if let Some(to) = resolve(&base, &path, href) {
                    enqueue(to, &mut queue);
                }
            }
        } else {
            out.downloads += 1;
            let text = if content_type
                .starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml")
            {
                Some(xlsx_text(&a.bytes))
            } else if content_type.starts_with("text/csv")
                || content_type.starts_with("application/json")
                || content_type.starts_with("text/xml")
                || content_type.starts_with("text/plain")
            {
                Some(a.body.clone())
            } else if content_type.starts_with("image/")
                || content_type.starts_with("application/pdf")
                || content_type.starts_with("text/css")
            {
                None
            } else {
                fail(format!(
                    "a download of a kind this test cannot read: {content_type}"
                ));
                None
            };
            if let Some(text) = text {
                for leak in number_leaks(&text, &checks.secrets, true) {
                    fail(format!("holds {leak}"));
                }
                let is_sheet =
                    content_type.starts_with("text/csv") || content_type.contains("spreadsheetml");
                if chinese && is_sheet {
                    for word in english_words(&text, &checks.data, &checks.catalog_en) {
                        fail(format!("English in a Chinese export: {word}"));
                    }
                }
            }
        }
    }
    out
}

/// Every cell of every sheet of a workbook, read by calamine as a spreadsheet program would,
/// a line per row.
fn xlsx_text(bytes: &[u8]) -> String {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("a workbook");
    let mut text = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).expect("a sheet");
        text.push_str(&name);
        text.push('\n');
        for row in range.rows() {
            let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
            text.push_str(&cells.join("\t"));
            text.push('\n');
        }
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The test

#[test]
fn every_page_a_reviewer_and_an_administrator_reach_masks_personal_numbers_and_speaks_chinese() {
    let started = Instant::now();
    let hub = TestHub::start();
    let tablet_dir = tempfile::tempdir().unwrap();
    let seeded = seed(&hub, tablet_dir.path());
    let catalog = demo::catalog();
    let sensitive_labels: BTreeSet<String> = catalog
        .items
        .iter()
        .flat_map(|i| &i.attributes)
        .filter(|a| a.sensitive)
        .flat_map(|a| [a.name_zh.clone(), a.name_en.clone()])
        .collect();
    let checks = Checks {
        secrets: secrets(),
        data: data_tokens(&hub, &catalog),
        catalog_en: catalog_english(&catalog),
        attribute_codes: catalog
            .items
            .iter()
            .flat_map(|i| &i.attributes)
            .map(|a| a.code.clone())
            .collect(),
        sensitive_labels,
    };
    let seeded_at = started.elapsed();

    // Four browsers, signed in one after the other (the hub lets a name sign in once at a
    // time), crawling side by side.
    let browsers: Vec<(&str, &str, Http)> = [
        (REVIEWER, "zh-CN"),
        (ADMIN, "zh-CN"),
        (REVIEWER, "en"),
        (ADMIN, "en"),
    ]
    .into_iter()
    .map(|(who, lang)| (who, lang, signed_in(&hub, who, lang)))
    .collect();
    let runs: Vec<(&str, &str, Crawled)> = std::thread::scope(|scope| {
        let handles: Vec<_> = browsers
            .into_iter()
            .map(|(who, lang, mut b)| {
                let checks = &checks;
                scope.spawn(move || (who, lang, crawl(&mut b, who, lang == "zh-CN", checks)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut failures = Vec::new();
    for (who, lang, run) in &runs {
        eprintln!(
            "{who} ({lang}): {} answers ({} pages, {} downloads), {} kinds of page; sensitive \
             attributes shown on: {:?}",
            run.answers,
            run.html,
            run.downloads,
            run.kinds.len(),
            run.sensitive_pages
        );
        failures.extend(run.failures.iter().cloned());
    }
    eprintln!(
        "seeded in {seeded_at:?}, crawled in {:?}",
        started.elapsed() - seeded_at
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every kind of page was reached, by both.
    for (who, _, run) in &runs {
        for kind in [
            "/console/requests",
            "/console/requests/{id}",
            "/console/requests/{id}/print/receipt",
            "/console/requests/{id}/print/supplement",
            "/console/requests/{id}/print/decision",
            "/console/agenda",
            "/console/agenda/{id}",
            "/console/dashboard",
            "/console/dashboard.csv",
            "/console/dashboard.xlsx",
            "/console/ledger.csv",
            "/console/ledger.xlsx",
            "/public/villages/{id}",
        ] {
            assert!(
                run.kinds.contains(kind),
                "{who} never reached {kind}: {:?}",
                run.kinds
            );
        }
        assert!(
            run.sensitive_pages.contains("/console/requests/{id}"),
            "{who}: the sensitive attributes are on the request pages"
        );
    }
    for (who, _, run) in runs.iter().filter(|r| r.0 == ADMIN) {
        for kind in [
            "/console/admin/users",
            "/console/admin/devices",
            "/console/admin/catalog",
        ] {
            assert!(
                run.kinds.contains(kind),
                "{who} never reached {kind}: {:?}",
                run.kinds
            );
        }
    }

    // The request pages show the applicant's numbers masked by the domain's own masking, the
    // sensitive attributes starred whole; the printed notices, which go to the applicant, show
    // the ID number masked too.
    let mut b = signed_in(&hub, REVIEWER, "zh-CN");
    for (id, p, sensitive) in [
        (seeded.submitted, &ZHOU, Some(ZHOU_BANK)),
        (seeded.accepted, &SUN, None),
        (seeded.forwarded, &LIU, Some(LIU_BANK)),
        (seeded.returned, &ZHAO, None),
        (seeded.approved, &CHEN, Some(CHEN_BANK)),
        (seeded.rejected, &LI, None),
        (seeded.completed, &HUANG, Some(HUANG_PENSION)),
        (seeded.conflict, &WU, None),
        (seeded.open311, &GUIYING, None),
    ] {
        let page = b.get(&format!("/console/requests/{id}"));
        assert_eq!(page.status, 200);
        let masked_id = NationalId::parse(p.id_number).unwrap().masked();
        assert!(page.body.contains(&masked_id), "{id}: {masked_id}");
        let phone = if id == seeded.forwarded {
            LIU_NEW_PHONE
        } else {
            p.phone
        };
        let masked_phone = Phone::parse(phone).unwrap().masked();
        assert!(page.body.contains(&masked_phone), "{id}: {masked_phone}");
        if let Some(value) = sensitive {
            let stars = "*".repeat(value.chars().count());
            assert!(
                page.body.contains(&stars),
                "{id}: the sensitive value starred whole"
            );
        }
    }
    for (id, kind, p) in [
        (seeded.accepted, "receipt", &SUN),
        (seeded.returned, "supplement", &ZHAO),
        (seeded.approved, "decision", &CHEN),
        (seeded.rejected, "decision", &LI),
    ] {
        let sheet = b.get(&format!("/console/requests/{id}/print/{kind}"));
        assert_eq!(sheet.status, 200, "{kind}");
        let masked_id = NationalId::parse(p.id_number).unwrap().masked();
        assert!(
            sheet.body.contains(&masked_id),
            "{kind}: the ID number masked"
        );
    }

    // The filing through Open311 names the application and the interface, not their codes; a
    // field edit and a reveal name the field by its label.
    let page = b.get(&format!("/console/requests/{}", seeded.open311));
    assert!(
        page.body.contains("12345 便民热线 (Open311)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Open311 接口"));
    let page = b.get(&format!("/console/requests/{}", seeded.forwarded));
    let edits = &page.body[page
        .body
        .find("<h2>修改记录</h2>")
        .expect("the field edits")..];
    assert!(
        edits[..edits.find("</table>").unwrap()].contains("<td>电话</td>"),
        "{edits}"
    );
    let page = b.get(&format!("/console/requests/{}", seeded.conflict));
    assert!(page.body.contains("冲突：离线时作出了不同的决定"));
    assert!(
        page.body
            .contains(&format!("申请人来电（{}）撤回", "*".repeat(11)))
    );
    // The agenda item's comment, its ID number starred.
    let page = b.get(&format!("/console/agenda/{}", seeded.agenda));
    assert!(
        page.body
            .contains(&format!("户主身份证 {} 已核对", "*".repeat(18)))
    );

    // The explicit reveal: one value in full, once, for that answer only, and on the record.
    let url = format!("/console/requests/{}", seeded.forwarded);
    let reviewer = hub.storage.user_by_name(REVIEWER).unwrap().unwrap();
    assert!(
        hub.storage.reveals(seeded.forwarded).unwrap().is_empty(),
        "the crawl revealed nothing"
    );
    let shown = b.submit(
        &url,
        &format!("{url}/reveal"),
        &[("field", "attributes.bank_account")],
    );
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(
        shown.body.matches(LIU_BANK).count(),
        1,
        "the account in full, once"
    );
    assert!(!shown.body.contains(LIU_NEW_PHONE), "and nothing else");
    let reveals = hub.storage.reveals(seeded.forwarded).unwrap();
    assert_eq!(reveals.len(), 1);
    assert_eq!(
        (reveals[0].user_id.as_str(), reveals[0].field.as_str()),
        (reviewer.id.as_str(), "attributes.bank_account")
    );
    let record = parse(&shown.body);
    let record_text: String = record.text.iter().map(|t| t.text.as_str()).collect();
    assert!(
        record_text.contains("查看完整信息记录"),
        "the page lists the reveal"
    );
    assert!(record_text.contains("太平镇审核员 张伟"), "by whom");
    assert!(
        shown
            .body
            .contains(r#"<td data-field="attributes.bank_account">银行账号</td>"#),
        "which field, by its label"
    );
    let again = b.get(&url);
    assert!(!again.body.contains(LIU_BANK), "masked again on reload");
    let shown = b.submit(
        &url,
        &format!("{url}/reveal"),
        &[("field", "applicant.id_number")],
    );
    assert_eq!(shown.body.matches(LIU.id_number).count(), 1);
    assert!(!shown.body.contains(LIU_BANK));
    assert_eq!(hub.storage.reveals(seeded.forwarded).unwrap().len(), 2);
}
