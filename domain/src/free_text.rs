//! Personal numbers in free text: national ID, mobile and bank-card numbers typed into a
//! comment, a reason, minutes or a public notice.
//!
//! Checked fields (`applicant.id_number`, `applicant.phone`) are validated and masked by
//! [`crate::personal`]. Free text is not, and people paste: a clerk copies a resident's phone
//! number into a notice, an input method types full-width digits (`１３８１２３４５６７８`),
//! someone groups a bank card by fours. [`find_personal_numbers`] is the one answer to "where
//! are such numbers in this text", used by the public pages (which star them), the console
//! (which shows them starred until a reviewer reveals them) and the tablet (which warns the
//! clerk before a text goes public).
//!
//! How a text is read:
//! 1. Each character is NFKC-normalised on its own, so full-width digits become ASCII digits,
//!    an ideographic space a space, a full-width hyphen a hyphen. One character at a time, so
//!    every match maps back to a byte range of the original text.
//! 2. Runs of digits are groups. Two groups separated by one to three separators (spaces,
//!    hyphens and dashes, dots including `。` and `·`, a closing bracket after an area code)
//!    belong to one number when both have at least three digits: `138 1234 5678` is one
//!    number, `2026-05-21` is three short ones. Two exceptions: a leading `86` (country code)
//!    before a group starting with 1, and a last group of one or two digits after four groups
//!    of four (a bank card's tail).
//! 3. A number is personal when it has 11 or more digits, or 17 followed by `X` (an ID number).
//!    When its last group is a year or a date and the groups before it have a known shape
//!    (mobile, ID, landline, bank card), that last group is left out, so a year written after a
//!    phone number stays readable; anything else after a shape is starred with it (the tail of
//!    a long account number must not show).
//!
//! What stays readable: dates (`2026-05-21`, `2026年5月21日`, `20260521-20260527`), amounts
//! (`1200`, `3,500.00`), counts, extensions and service hotlines (`8021`, `12345`,
//! `400-800-1234`: fewer than 11 digits), and receipt numbers (`370883101201-007-000042`):
//! a receipt number names a case, not a person; the status look-up needs the applicant's ID
//! ending besides it, and a results notice may cite one. Lists of years or compact dates
//! separated only by spaces or hyphens are not numbers either. A list of other numbers written
//! with nothing but spaces between them is read as one number once it reaches 11 digits: a
//! rare false alarm is the price of not missing a spaced bank card.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::ReceiptNo;

/// What kind of personal number a match looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalNumberKind {
    /// An 18-character national ID number (17 digits and a digit or `X`), or an old 15-digit
    /// one.
    NationalId,
    /// An 11-digit mobile number starting with 1, with or without `+86`, `86` or `0086`.
    Mobile,
    /// Any other number of 11 or more digits: a bank card, a landline with its area code, an
    /// account number.
    LongNumber,
}

/// A personal number found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonalNumber {
    /// Its bytes in the original text: from its first digit to its last digit (or `X`), the
    /// separators between them included. A `+` before a country code is left out.
    pub range: Range<usize>,
    /// What it looks like.
    pub kind: PersonalNumberKind,
}

/// Every personal number in `text`, in order, as byte ranges of `text` itself (see the module
/// docs for what counts).
pub fn find_personal_numbers(text: &str) -> Vec<PersonalNumber> {
    let units = units(text);
    let groups = groups(&units);
    let mut found = Vec::new();
    let mut g = 0;
    while g < groups.len() {
        if is_receipt(&units, &groups[g..]) {
            g += 3;
            continue;
        }
        let end = chain_end(&units, &groups, g);
        g = match judge(&units, &groups[g..end]) {
            Some((taken, number)) => {
                found.push(number);
                g + taken
            }
            None => end,
        };
    }
    found
}

/// `text` with every character of every personal number (digits and the separators between
/// them) replaced by `*`, one star per character; the rest unchanged.
pub fn mask_personal_numbers(text: &str) -> String {
    let found = find_personal_numbers(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut ranges = found.iter().map(|n| &n.range).peekable();
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        while ranges.peek().is_some_and(|r| r.end <= i) {
            ranges.next();
        }
        let inside = ranges.peek().is_some_and(|r| r.contains(&i));
        out.push(if inside { '*' } else { c });
    }
    out
}

/// Whether `text` holds anything that looks like an ID, mobile or bank-card number.
pub fn looks_personal(text: &str) -> bool {
    !find_personal_numbers(text).is_empty()
}

/// What one character is once normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A digit, as ASCII.
    Digit(char),
    /// A separator that may stand between a number's groups.
    Separator(char),
    /// `X` or `x`, the check character of an ID number.
    X,
    /// Anything else.
    Other,
}

/// Separators, as NFKC leaves them (`　` is a space, `－` a hyphen, `．` a dot by then).
const SEPARATORS: &[char] = &[
    ' ', '-', '.', ')', '\u{00B7}', '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}',
    '\u{2015}', '\u{2212}', '\u{3002}', '\u{30FB}', '\u{30FC}', '\u{200B}',
];

/// At most this many separators stand between two groups of one number.
const MAX_GAP: usize = 3;

/// The class of `c` once NFKC-normalised on its own (ASCII is its own normal form; a
/// character that normalises to several, like `⑴`, is never a digit).
fn classify(c: char) -> Class {
    if c.is_ascii() {
        return class_of_normalised(c);
    }
    let mut normalised = std::iter::once(c).nfkc();
    let (Some(n), None) = (normalised.next(), normalised.next()) else {
        return Class::Other;
    };
    class_of_normalised(n)
}

fn class_of_normalised(n: char) -> Class {
    match n {
        '0'..='9' => Class::Digit(n),
        'X' | 'x' => Class::X,
        s if SEPARATORS.contains(&s) => Class::Separator(s),
        _ => Class::Other,
    }
}

/// One character of the original text: its bytes and its class.
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    class: Class,
}

fn units(text: &str) -> Vec<Unit> {
    text.char_indices()
        .map(|(start, c)| Unit {
            start,
            end: start + c.len_utf8(),
            class: classify(c),
        })
        .collect()
}

/// A run of digits: its units (`first..=last`) and the digits, as ASCII.
#[derive(Debug, Clone)]
struct Group {
    first: usize,
    last: usize,
    digits: String,
}

impl Group {
    fn len(&self) -> usize {
        self.digits.len()
    }
}

fn groups(units: &[Unit]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let Class::Digit(d) = u.class else { continue };
        match out.last_mut() {
            Some(g) if g.last + 1 == i => {
                g.last = i;
                g.digits.push(d);
            }
            _ => out.push(Group {
                first: i,
                last: i,
                digits: d.to_string(),
            }),
        }
    }
    out
}

/// The separators between two neighbouring groups, if only separators (one to three) stand
/// between them.
fn gap(units: &[Unit], before: &Group, after: &Group) -> Option<Vec<char>> {
    let between = &units[before.last + 1..after.first];
    if between.len() > MAX_GAP {
        return None;
    }
    between
        .iter()
        .map(|u| match u.class {
            Class::Separator(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Whether `groups` starts with a receipt number (`370883101201-007-000042`, hyphens only).
fn is_receipt(units: &[Unit], groups: &[Group]) -> bool {
    let [a, b, c, ..] = groups else { return false };
    let hyphen = |x: &Group, y: &Group| gap(units, x, y).as_deref() == Some(&['-'][..]);
    hyphen(a, b)
        && hyphen(b, c)
        && ReceiptNo::parse(&format!("{}-{}-{}", a.digits, b.digits, c.digits)).is_ok()
}

/// The end (exclusive) of the number whose first group is `groups[start]`: the groups that
/// join it (module docs, step 2), stopping before a receipt number.
fn chain_end(units: &[Unit], groups: &[Group], start: usize) -> usize {
    let mut end = start + 1;
    while end < groups.len() && !is_receipt(units, &groups[end..]) {
        let (chain, next) = (&groups[start..end], &groups[end]);
        if gap(units, &groups[end - 1], next).is_none() || !joins(chain, next) {
            break;
        }
        end += 1;
    }
    end
}

/// Whether `next` continues the number made of `chain` (the gap is already known to be only
/// separators).
fn joins(chain: &[Group], next: &Group) -> bool {
    let last = &chain[chain.len() - 1];
    let country_code = chain.len() == 1 && last.digits == "86" && next.digits.starts_with('1');
    let card_tail =
        (1..=2).contains(&next.len()) && chain.len() >= 4 && chain.iter().all(|g| g.len() == 4);
    country_code || card_tail || (last.len() >= 3 && next.len() >= 3)
}

/// The longest known shape: a bank card's 19 digits.
const LONGEST_SHAPE: usize = 19;

/// Whether the number made of `chain` is personal; if so, how many of its groups it takes and
/// the match: the whole chain if it has a known shape; the chain but its last group if that
/// group is a year or a date and the rest has a known shape (a phone number, then the year);
/// else the whole chain by its length.
fn judge(units: &[Unit], chain: &[Group]) -> Option<(usize, PersonalNumber)> {
    if chain.len() >= 2 && chain.iter().all(|g| is_date_like(&g.digits)) {
        return None;
    }
    let after_last = units.get(chain[chain.len() - 1].last + 1);
    let x_follows = after_last.is_some_and(|u| u.class == Class::X);
    if let Some((kind, with_x)) = shaped(chain, x_follows) {
        return Some((chain.len(), matched(units, chain, with_x, kind)));
    }
    if let Some((last, rest)) = chain.split_last()
        && !rest.is_empty()
        && is_date_like(&last.digits)
        && let Some((kind, _)) = shaped(rest, false)
    {
        return Some((rest.len(), matched(units, rest, false, kind)));
    }
    // Checked last: a phone number and a year written after it are 15 digits too.
    let total: usize = chain.iter().map(Group::len).sum();
    let kind = if total == 15 {
        PersonalNumberKind::NationalId
    } else {
        PersonalNumberKind::LongNumber
    };
    (total >= 11).then(|| (chain.len(), matched(units, chain, false, kind)))
}

/// The shape of the number made of `chain`, if it has one, and whether the `X` after it is
/// part of it (an ID number's check character).
fn shaped(chain: &[Group], x_follows: bool) -> Option<(PersonalNumberKind, bool)> {
    let total: usize = chain.iter().map(Group::len).sum();
    if total > LONGEST_SHAPE {
        return None;
    }
    let digits: String = chain.iter().map(|g| g.digits.as_str()).collect();
    let with_x = x_follows && total == 17;
    shape(&digits, with_x).map(|kind| (kind, with_x))
}

/// The match of `chain`: its first digit to its last, and the `X` after it `with_x`.
fn matched(
    units: &[Unit],
    chain: &[Group],
    with_x: bool,
    kind: PersonalNumberKind,
) -> PersonalNumber {
    let last = chain[chain.len() - 1].last + usize::from(with_x);
    PersonalNumber {
        range: units[chain[0].first].start..units[last].end,
        kind,
    }
}

/// The kind of a number of exactly a known shape: a mobile (with or without its country
/// code), an ID number (18 characters: 17 digits and `with_x`, or 18 digits), a landline with
/// its area code (0 and 10 to 11 more digits) or a bank card (16 to 19 digits). The old
/// 15-digit ID number is left to [`judge`]: that length is too easily made by a phone number
/// and a year.
fn shape(digits: &str, with_x: bool) -> Option<PersonalNumberKind> {
    let n = digits.len();
    let mobile = |d: &str| d.len() == 11 && d.starts_with('1');
    let without_country = digits
        .strip_prefix("0086")
        .or_else(|| digits.strip_prefix("86"));
    if with_x || n == 18 {
        Some(PersonalNumberKind::NationalId)
    } else if mobile(digits) || without_country.is_some_and(mobile) {
        Some(PersonalNumberKind::Mobile)
    } else if (digits.starts_with('0') && (11..=12).contains(&n)) || (16..=19).contains(&n) {
        Some(PersonalNumberKind::LongNumber)
    } else {
        None
    }
}

/// A year (1900 to 2099) or a compact date (`20260521`): a list of these is not a number.
fn is_date_like(digits: &str) -> bool {
    let year_ok = |y: &str| y.parse::<u32>().is_ok_and(|y| (1900..=2099).contains(&y));
    match digits.len() {
        4 => year_ok(digits),
        8 => year_ok(&digits[..4]) && chrono::NaiveDate::parse_from_str(digits, "%Y%m%d").is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::PersonalNumberKind::{LongNumber, Mobile, NationalId};
    use super::*;

    /// The matched texts and their kinds.
    fn found(text: &str) -> Vec<(&str, PersonalNumberKind)> {
        find_personal_numbers(text)
            .into_iter()
            .map(|n| (&text[n.range], n.kind))
            .collect()
    }

    fn unchanged(text: &str) {
        assert_eq!(mask_personal_numbers(text), text, "{text}");
        assert!(!looks_personal(text), "{text}");
    }

    #[test]
    fn id_numbers_in_every_form() {
        for (text, id) in [
            ("身份证11010519491231002X。", "11010519491231002X"),
            ("id 11010519491231002x end", "11010519491231002x"),
            ("号码 440524188001010014", "440524188001010014"),
            ("110105 19491231 002X", "110105 19491231 002X"),
            ("110105 1949 1231 002X号", "110105 1949 1231 002X"),
            ("110105-19491231-002X", "110105-19491231-002X"),
            (
                "１１０１０５１９４９１２３１００２Ｘ",
                "１１０１０５１９４９１２３１００２Ｘ",
            ),
            (
                "１１０１０５　１９４９１２３１　００２Ｘ",
                "１１０１０５　１９４９１２３１　００２Ｘ",
            ),
            ("旧证 110105491231002 作废", "110105491231002"),
        ] {
            assert_eq!(found(text), vec![(id, NationalId)], "{text}");
        }
    }

    #[test]
    fn mobile_numbers_in_every_form() {
        for (text, number) in [
            ("电话13812345678", "13812345678"),
            ("电话：１３８１２３４５６７８，", "１３８１２３４５６７８"),
            ("138 1234 5678", "138 1234 5678"),
            ("138-1234-5678", "138-1234-5678"),
            ("138－1234－5678", "138－1234－5678"),
            ("138—1234—5678", "138—1234—5678"),
            ("138　1234　5678", "138　1234　5678"),
            ("138.1234.5678", "138.1234.5678"),
            ("138。1234。5678", "138。1234。5678"),
            ("138 - 1234 - 5678", "138 - 1234 - 5678"),
            ("１３８ 1234 ５６７８", "１３８ 1234 ５６７８"),
        ] {
            assert_eq!(found(text), vec![(number, Mobile)], "{text}");
        }
    }

    #[test]
    fn country_prefixes_are_part_of_the_number_but_not_the_plus() {
        for (text, number) in [
            ("+86 138 1234 5678", "86 138 1234 5678"),
            ("+86-138-1234-5678", "86-138-1234-5678"),
            ("+8613812345678", "8613812345678"),
            ("86 13812345678", "86 13812345678"),
            ("0086 138 1234 5678", "0086 138 1234 5678"),
            (
                "００８６－１３８１２３４５６７８",
                "００８６－１３８１２３４５６７８",
            ),
            (
                "＋８６ １３８ １２３４ ５６７８",
                "８６ １３８ １２３４ ５６７８",
            ),
        ] {
            assert_eq!(found(text), vec![(number, Mobile)], "{text}");
        }
        assert_eq!(
            mask_personal_numbers("电话 +86 138 1234 5678。"),
            "电话 +****************。"
        );
    }

    #[test]
    fn bank_cards_and_landlines() {
        for text in [
            "6222 0212 3456 7890 123",
            "6222021234567890123",
            "6222-0212-3456-7890",
            "6222 0212 3456 7890 1",
            "６２２２ ０２１２ ３４５６ ７８９０ １２３",
        ] {
            assert_eq!(found(text), vec![(text, LongNumber)], "{text}");
        }
        for (text, number) in [
            ("座机0531-88886666", "0531-88886666"),
            ("座机 010 8888 6666 转 8021", "010 8888 6666"),
            ("(0531)88886666", "0531)88886666"),
            ("（0531）8888 6666", "0531）8888 6666"),
        ] {
            assert_eq!(found(text), vec![(number, LongNumber)], "{text}");
        }
        assert_eq!(
            found("账号 23456789012 "),
            vec![("23456789012", LongNumber)]
        );
    }

    #[test]
    fn ordinary_numbers_stay_readable() {
        for text in [
            "2026-05-21",
            "2026年5月21日",
            "2026.05.21 至 2026.05.31",
            "2026-05-21 - 2026-05-27",
            "20260521-20260527",
            "2024 2025 2026 年度",
            "公示期 2026/05/21-2026/05/27",
            "每亩补偿1200元",
            "合计 3,500.00 元",
            "1,234,567,890.00 元",
            "12345.67",
            "24户 23人，赞成 21 票",
            "分机 8021，转 802",
            "政务服务热线 12345，客服 400-800-1234，95588",
            "1380013800",
            "10 个工作日",
            "",
        ] {
            unchanged(text);
        }
    }

    #[test]
    fn receipt_numbers_stay_readable_even_beside_other_numbers() {
        unchanged("回执号 370883101201-007-000042");
        unchanged("回执号 370883101201－007－000042 2026年5月21日受理");
        assert_eq!(
            mask_personal_numbers("370883101201-007-000042 13812345678"),
            "370883101201-007-000042 ***********"
        );
        // A bare 12-digit number is not a receipt number.
        assert_eq!(found("370883101201"), vec![("370883101201", LongNumber)]);
    }

    #[test]
    fn a_year_after_a_number_stays_readable() {
        assert_eq!(
            mask_personal_numbers("联系电话 138 1234 5678 2026年5月21日前报名"),
            "联系电话 ************* 2026年5月21日前报名"
        );
        assert_eq!(
            mask_personal_numbers("卡号 6222 0212 3456 7890 123 2026年"),
            "卡号 *********************** 2026年"
        );
    }

    #[test]
    fn ranges_are_bytes_of_the_original_text() {
        let text = "请联系王秀英，电话１３８ １２３４ ５６７８，或6222 0212 3456 7890 123。";
        let numbers = find_personal_numbers(text);
        assert_eq!(numbers.len(), 2);
        assert_eq!(&text[numbers[0].range.clone()], "１３８ １２３４ ５６７８");
        assert_eq!(&text[numbers[1].range.clone()], "6222 0212 3456 7890 123");
        let masked = mask_personal_numbers(text);
        assert_eq!(
            masked,
            "请联系王秀英，电话*************，或***********************。"
        );
        assert_eq!(masked.chars().count(), text.chars().count());
    }

    #[test]
    fn several_numbers_in_one_text() {
        let text = "身份证11010519491231002X，电话13812345678，面积1200平方米";
        assert_eq!(
            mask_personal_numbers(text),
            "身份证******************，电话***********，面积1200平方米"
        );
        assert_eq!(
            found(text),
            vec![("11010519491231002X", NationalId), ("13812345678", Mobile)]
        );
        assert!(looks_personal(text));
    }

    #[test]
    fn the_tail_of_a_long_account_number_is_starred_too() {
        let account = "6222 0212 3456 7890 1234 5678";
        assert_eq!(found(account), vec![(account, LongNumber)]);
        assert_eq!(
            mask_personal_numbers("电话 138 1234 5678 8021"),
            "电话 ******************",
            "an extension written as a fourth group is starred with the number"
        );
    }

    #[test]
    fn a_very_long_run_of_groups_is_starred_whole() {
        // 1250 groups of three: read in linear time, every digit starred.
        let text = "123 ".repeat(1250);
        let masked = mask_personal_numbers(&text);
        assert!(!masked.contains(|c: char| c.is_ascii_digit()));
        assert_eq!(masked.chars().count(), text.chars().count());
    }

    #[test]
    fn other_characters_break_a_number() {
        unchanged("138、1234、5678");
        unchanged("①②③ 1200");
        unchanged("第138号1234户5678人");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Starring keeps every character that is not part of a match, and the length.
            #[test]
            fn masking_only_replaces_matched_characters(text in "\\PC{0,80}") {
                let masked = mask_personal_numbers(&text);
                prop_assert_eq!(masked.chars().count(), text.chars().count());
                let ranges: Vec<_> = find_personal_numbers(&text).into_iter().map(|n| n.range).collect();
                for ((i, a), b) in text.char_indices().zip(masked.chars()) {
                    let inside = ranges.iter().any(|r| r.contains(&i));
                    prop_assert_eq!(b, if inside { '*' } else { a });
                }
            }

            /// Any run of 11 to 19 digits, full-width or not, between words is starred whole.
            #[test]
            fn long_runs_are_always_found(
                digits in "[0-9]{11,19}",
                wide in any::<bool>(),
                before in "[a-z一-龥]{0,4}",
                after in "[a-z一-龥]{0,4}",
            ) {
                let number: String = if wide {
                    digits.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap()).collect()
                } else {
                    digits.clone()
                };
                let text = format!("{before}{number}{after}");
                let masked = mask_personal_numbers(&text);
                prop_assert!(!masked.chars().any(|c| c.is_ascii_digit() || ('０'..='９').contains(&c)));
            }

            /// Digits in groups of four with spaces or hyphens, 16 to 19 in all, are found.
            #[test]
            fn grouped_cards_are_found(digits in "[1-9][0-9]{15,18}", sep in prop::sample::select(vec![" ", "-", "　", "－"])) {
                let grouped: Vec<String> = digits.as_bytes().chunks(4).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
                let text = format!("卡号{}。", grouped.join(sep));
                prop_assert!(!mask_personal_numbers(&text).chars().any(|c| c.is_ascii_digit()));
            }
        }
    }
}
