//! The console dashboard's figures, as pure functions of the hub's counts
//! ([`RequestStat`], from [`Engine::console_stats`](crate::engine::Engine::console_stats)) and
//! the reference data (for names): no I/O, so the console's routes only fetch and call.
//!
//! - [`summarise`]: per village and per service item (and in total): requests by status,
//!   on-time rate, average working days to a decision, satisfaction ratings.
//! - [`section`]: the tables and charts for the dashboard page.
//! - [`svg_by_village`], [`svg_by_item`], [`svg_on_time`], [`svg_satisfaction`]: bar charts as
//!   standalone SVG documents (also inlined by [`section`]).
//! - [`csv`] (UTF-8 with a byte-order mark, so Excel reads the Chinese) and [`xlsx`]: exports.
//!
//! The measures:
//! - **on-time rate** = decided on time / decided, where *decided* counts the requests whose
//!   clock ended with a decision (see [`RequestStat::decided`]);
//! - **average working days** = working days from acceptance to decision, summed / decided;
//! - **share satisfied** = (very satisfied + satisfied + basically satisfied) / rated, the usual
//!   reading of 好差评 (basically satisfied is not a bad rating).
//!
//! A measure with nothing to divide by is `None`, shown as "–" (never 0 % or NaN).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use bianmin_domain::{Catalog, Directory, Rating, Status};
use maud::{Markup, PreEscaped, html};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::i18n::{Lang, tr};
use crate::storage::RequestStat;

/// The ratings, best first.
pub const RATINGS: [Rating; 5] = [
    Rating::VerySatisfied,
    Rating::Satisfied,
    Rating::BasicallySatisfied,
    Rating::Dissatisfied,
    Rating::VeryDissatisfied,
];

/// The figures of one village, one service item, or everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// The village's or item's code (empty for the total).
    pub code: String,
    /// Chinese name (the code when the reference data does not know it).
    pub name_zh: String,
    /// English name (likewise).
    pub name_en: String,
    /// Requests.
    pub count: u64,
    /// Requests per status, in the order of [`Status::ALL`].
    pub by_status: [u64; 10],
    /// Requests decided with the clock running.
    pub decided: u64,
    /// Of those, decided within the deadline.
    pub on_time: u64,
    /// Working days from acceptance to decision, summed over the decided.
    pub working_days: u64,
    /// Requests per rating, in the order of [`RATINGS`].
    pub ratings: [u64; 5],
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Group {
    fn named(code: &str, name_zh: &str, name_en: &str) -> Group {
        Group {
            code: code.to_string(),
            name_zh: name_zh.to_string(),
            name_en: name_en.to_string(),
            ..Group::default()
        }
    }

    fn add(&mut self, s: &RequestStat) {
        self.count += s.count;
        if let Some(i) = Status::ALL.iter().position(|st| *st == s.status) {
            self.by_status[i] += s.count;
        }
        self.decided += s.decided;
        self.on_time += s.on_time;
        self.working_days += s.working_days;
        if let Some(r) = s.rating
            && let Some(i) = RATINGS.iter().position(|x| *x == r)
        {
            self.ratings[i] += s.count;
        }
    }

    /// The name in `lang`.
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.name_zh,
            Lang::En => &self.name_en,
        }
    }

    /// Requests with this status.
    pub fn status(&self, status: Status) -> u64 {
        Status::ALL
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.by_status[i])
    }

    /// Requests with one of these statuses.
    pub fn statuses(&self, statuses: &[Status]) -> u64 {
        statuses.iter().map(|s| self.status(*s)).sum()
    }

    /// Requests with this rating.
    pub fn rating(&self, rating: Rating) -> u64 {
        RATINGS
            .iter()
            .position(|r| *r == rating)
            .map_or(0, |i| self.ratings[i])
    }

    /// Requests rated.
    pub fn rated(&self) -> u64 {
        self.ratings.iter().sum()
    }

    /// Decided on time / decided.
    pub fn on_time_rate(&self) -> Option<f64> {
        ratio(self.on_time, self.decided)
    }

    /// Working days to a decision / decided.
    pub fn average_working_days(&self) -> Option<f64> {
        ratio(self.working_days, self.decided)
    }

    /// (Very satisfied + satisfied + basically satisfied) / rated.
    pub fn satisfied_share(&self) -> Option<f64> {
        ratio(self.ratings[..3].iter().sum(), self.rated())
    }
}

/// The dashboard's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Per village: the directory's order, then villages it does not know by code.
    pub villages: Vec<Group>,
    /// Per service item: the catalog's order, then items it does not know by code.
    pub items: Vec<Group>,
    /// Everything.
    pub total: Group,
}

/// Sums the counts per village and per service item, named from the directory and catalog.
pub fn summarise(stats: &[RequestStat], directory: &Directory, catalog: &Catalog) -> Summary {
    let mut villages: BTreeMap<&str, Group> = BTreeMap::new();
    let mut items: BTreeMap<&str, Group> = BTreeMap::new();
    let mut total = Group::named("", "合计", "Total");
    for s in stats {
        villages
            .entry(&s.village)
            .or_insert_with(|| match directory.village(&s.village) {
                Some(v) => Group::named(&v.code, &v.name_zh, &v.name_en),
                None => Group::named(&s.village, &s.village, &s.village),
            })
            .add(s);
        items
            .entry(&s.item_code)
            .or_insert_with(|| match catalog.item(&s.item_code) {
                Some(i) => Group::named(&i.code, &i.name_zh, &i.name_en),
                None => Group::named(&s.item_code, &s.item_code, &s.item_code),
            })
            .add(s);
        total.add(s);
    }
    let village_order: HashMap<&str, usize> = directory
        .townships
        .iter()
        .flat_map(|t| &t.villages)
        .enumerate()
        .map(|(i, v)| (v.code.as_str(), i))
        .collect();
    let item_order: HashMap<&str, usize> = catalog
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.code.as_str(), i))
        .collect();
    // Known codes in reference order, unknown ones after them by code (BTreeMap order).
    let ordered = |groups: BTreeMap<&str, Group>, order: &HashMap<&str, usize>| {
        let mut v: Vec<Group> = groups.into_values().collect();
        v.sort_by_key(|g| order.get(g.code.as_str()).copied().unwrap_or(usize::MAX));
        v
    };
    Summary {
        villages: ordered(villages, &village_order),
        items: ordered(items, &item_order),
        total,
    }
}

/// A status's short name for staff.
pub fn status_label(status: Status, l: Lang) -> &'static str {
    match status {
        Status::Draft => tr(l, "草稿", "Draft"),
        Status::Submitted => tr(l, "已提交", "Submitted"),
        Status::Accepted => tr(l, "已受理", "Accepted"),
        Status::NotAccepted => tr(l, "不予受理", "Not accepted"),
        Status::Forwarded => tr(l, "已上报", "Forwarded"),
        Status::Returned => tr(l, "退回补正", "Returned"),
        Status::Approved => tr(l, "审核通过", "Approved"),
        Status::Rejected => tr(l, "不予批准", "Rejected"),
        Status::Completed => tr(l, "已办结", "Completed"),
        Status::Withdrawn => tr(l, "已撤回", "Withdrawn"),
    }
}

/// A rating's name.
pub fn rating_label(rating: Rating, l: Lang) -> &'static str {
    match rating {
        Rating::VerySatisfied => tr(l, "非常满意", "Very satisfied"),
        Rating::Satisfied => tr(l, "满意", "Satisfied"),
        Rating::BasicallySatisfied => tr(l, "基本满意", "Basically satisfied"),
        Rating::Dissatisfied => tr(l, "不满意", "Dissatisfied"),
        Rating::VeryDissatisfied => tr(l, "非常不满意", "Very dissatisfied"),
    }
}

/// The statuses the charts group together, with their colours.
const BUCKETS: [(&[Status], &str); 4] = [
    (
        &[
            Status::Draft,
            Status::Submitted,
            Status::Accepted,
            Status::Forwarded,
            Status::Returned,
            Status::Approved,
        ],
        "#0b5cad",
    ),
    (&[Status::Completed], "#2e7d32"),
    (&[Status::NotAccepted, Status::Rejected], "#a4262c"),
    (&[Status::Withdrawn], "#8a8f98"),
];

fn bucket_label(i: usize, l: Lang) -> &'static str {
    match i {
        0 => tr(l, "办理中", "In progress"),
        1 => tr(l, "已办结", "Completed"),
        2 => tr(l, "不予受理/批准", "Refused or rejected"),
        _ => tr(l, "已撤回", "Withdrawn"),
    }
}

const RATING_COLOURS: [&str; 5] = ["#1b5e20", "#43a047", "#c0ca33", "#fb8c00", "#c62828"];

/// A share as a percentage with one decimal, or "–".
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_string(), |s| format!("{:.1}%", s * 100.0))
}

/// A number of days with one decimal, or "–".
pub fn days(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |d| format!("{d:.1}"))
}

/// One bar: a label, its segments (one per series) and the text at its end.
struct Bar {
    label: String,
    values: Vec<u64>,
    text: String,
}

/// A horizontal (stacked) bar chart.
struct Chart<'a> {
    id: &'a str,
    title: String,
    series: Vec<(&'static str, &'static str)>,
    bars: Vec<Bar>,
    /// The value of a full-width bar (the largest bar's total when `None`).
    full: Option<u64>,
    lang: Lang,
}

const WIDTH: u32 = 720;
const LABEL_W: u32 = 190;
const TEXT_W: u32 = 80;
const ROW_H: u32 = 26;
const BAR_H: u32 = 18;

/// The legend's rows: from the top, one row of 18 px each.
const LEGEND_ROW_H: u32 = 18;

/// About how wide `text` is drawn at the charts' 13 px (Chinese characters a full em, the rest
/// a little over half of one): enough to place legend entries without overlap.
fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| if c as u32 >= 0x2E80 { 13 } else { 8 })
        .sum()
}

/// Where each legend entry goes (x, row), wrapped to the next row when it would pass the
/// chart's width: a legend is never cut, however many series or however long their names.
fn legend_places(series: &[(&str, &str)]) -> Vec<(u32, u32)> {
    let (mut x, mut row) = (0u32, 0u32);
    series
        .iter()
        .map(|(name, _)| {
            let w = 16 + text_width(name) + 20;
            if x > 0 && x + w > WIDTH {
                (x, row) = (0, row + 1);
            }
            let at = (x, row);
            x += w;
            at
        })
        .collect()
}

fn short(label: &str) -> String {
    if label.chars().count() > 14 {
        label.chars().take(13).chain(['…']).collect()
    } else {
        label.to_string()
    }
}

/// A bar's non-empty segments: start and end (pixels from the bar's left), value, series.
fn segments<'s>(
    bar: &Bar,
    full: u64,
    bar_w: u32,
    series: &'s [(&'static str, &'static str)],
) -> Vec<(u64, u64, u64, &'s (&'static str, &'static str))> {
    let scale = |v: u64| v.min(full) * u64::from(bar_w) / full;
    let mut at = 0u64;
    let mut out = Vec::new();
    for (value, s) in bar.values.iter().zip(series) {
        let (start, end) = (scale(at), scale(at + value));
        at += value;
        if *value > 0 {
            out.push((start, end, *value, s));
        }
    }
    out
}

impl Chart<'_> {
    /// The chart as an SVG document: every text escaped, a `<title>` and a `<desc>` that screen
    /// readers announce (`role="img"`, `aria-labelledby`), and a `<title>` per bar segment.
    fn render(&self) -> String {
        let l = self.lang;
        let bar_w = WIDTH - LABEL_W - TEXT_W;
        let legend = match self.series.len() > 1 {
            true => legend_places(&self.series),
            false => Vec::new(),
        };
        let legend_rows = legend.iter().map(|(_, row)| row + 1).max().unwrap_or(0);
        let top = 36 + legend_rows * LEGEND_ROW_H + u32::from(legend_rows > 0) * 4;
        let rows = u32::try_from(self.bars.len()).unwrap_or(u32::MAX).max(1);
        let height = top + rows * ROW_H + 8;
        let full = self
            .full
            .unwrap_or_else(|| {
                self.bars
                    .iter()
                    .map(|b| b.values.iter().sum::<u64>())
                    .max()
                    .unwrap_or(0)
            })
            .max(1);
        let desc = if self.bars.is_empty() {
            tr(l, "没有数据。", "No data.").to_string()
        } else {
            self.bars
                .iter()
                .map(|b| format!("{}: {}", b.label, b.text))
                .collect::<Vec<_>>()
                .join(tr(l, "；", "; "))
        };
        let title_id = format!("{}-title", self.id);
        let desc_id = format!("{}-desc", self.id);
        let markup = html! {
            svg xmlns="http://www.w3.org/2000/svg" class="chart" id=(self.id)
                viewBox={ "0 0 " (WIDTH) " " (height) } width=(WIDTH) height=(height)
                role="img" aria-labelledby={ (title_id) " " (desc_id) }
                font-family="system-ui, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"
                font-size="13" {
                title id=(title_id) { (self.title) }
                desc id=(desc_id) { (desc) }
                rect x="0" y="0" width=(WIDTH) height=(height) fill="#ffffff" {}
                text x="0" y="18" font-size="15" font-weight="600" fill="#1d2329" { (self.title) }
                @for ((name, colour), (x, row)) in self.series.iter().zip(&legend) {
                    @let y = 30 + row * LEGEND_ROW_H;
                    rect x=(x) y=(y) width="12" height="12" fill=(colour) {}
                    text.legend x=(x + 16) y=(y + 11) fill="#1d2329" { (name) }
                }
                @if self.bars.is_empty() {
                    text x="0" y=(top + 16) fill="#5b636b" { (tr(l, "没有数据", "No data")) }
                }
                @for (row, bar) in self.bars.iter().enumerate() {
                    @let y = top + u32::try_from(row).unwrap_or(0) * ROW_H;
                    g {
                        title { (bar.label) ": " (bar.text) }
                        text x=(LABEL_W - 8) y=(y + 14) text-anchor="end" fill="#1d2329" {
                            (short(&bar.label))
                        }
                        rect x=(LABEL_W) y=(y) width=(bar_w) height=(BAR_H) fill="#eef0f3" {}
                        @for (start, end, value, (name, colour)) in segments(bar, full, bar_w, &self.series) {
                            rect x=(u64::from(LABEL_W) + start) y=(y) width=(end - start)
                                height=(BAR_H) fill=(colour) {
                                title { (bar.label) " · " (name) ": " (value) }
                            }
                        }
                        text x=(LABEL_W + bar_w + 6) y=(y + 14) fill="#1d2329" { (bar.text) }
                    }
                }
            }
        };
        markup.into_string()
    }
}

fn status_chart(id: &str, title: String, groups: &[Group], l: Lang) -> String {
    Chart {
        id,
        title,
        series: (0..BUCKETS.len())
            .map(|i| (bucket_label(i, l), BUCKETS[i].1))
            .collect(),
        bars: groups
            .iter()
            .map(|g| Bar {
                label: g.name(l).to_string(),
                values: BUCKETS.iter().map(|(s, _)| g.statuses(s)).collect(),
                text: g.count.to_string(),
            })
            .collect(),
        full: None,
        lang: l,
    }
    .render()
}

/// Requests per village, stacked by where they stand.
pub fn svg_by_village(summary: &Summary, l: Lang) -> String {
    status_chart(
        "chart-villages",
        tr(l, "各村办件量", "Requests by village").to_string(),
        &summary.villages,
        l,
    )
}

/// Requests per service item, stacked by where they stand.
pub fn svg_by_item(summary: &Summary, l: Lang) -> String {
    status_chart(
        "chart-items",
        tr(l, "各事项办件量", "Requests by service item").to_string(),
        &summary.items,
        l,
    )
}

/// The on-time rate per village (villages with nothing decided are left out).
pub fn svg_on_time(summary: &Summary, l: Lang) -> String {
    Chart {
        id: "chart-on-time",
        title: tr(l, "各村按时办结率", "On-time rate by village").to_string(),
        series: vec![(tr(l, "按时率", "On-time rate"), "#0b5cad")],
        bars: summary
            .villages
            .iter()
            .filter_map(|g| {
                let rate = g.on_time_rate()?;
                Some(Bar {
                    label: g.name(l).to_string(),
                    // Per mille, so the bar is exact to a tenth of a percent.
                    values: vec![(rate * 1000.0).round() as u64],
                    text: percent(Some(rate)),
                })
            })
            .collect(),
        full: Some(1000),
        lang: l,
    }
    .render()
}

/// Ratings per village, stacked best to worst.
pub fn svg_satisfaction(summary: &Summary, l: Lang) -> String {
    Chart {
        id: "chart-ratings",
        title: tr(l, "各村好差评", "Satisfaction ratings by village").to_string(),
        series: RATINGS
            .iter()
            .zip(RATING_COLOURS)
            .map(|(r, c)| (rating_label(*r, l), c))
            .collect(),
        bars: summary
            .villages
            .iter()
            .filter(|g| g.rated() > 0)
            .map(|g| Bar {
                label: g.name(l).to_string(),
                values: g.ratings.to_vec(),
                text: percent(g.satisfied_share()),
            })
            .collect(),
        full: None,
        lang: l,
    }
    .render()
}

/// A cell of the exports.
enum Cell {
    Text(String),
    Count(u64),
    /// A share (0 to 1), if defined.
    Share(Option<f64>),
    /// A number of days, if defined.
    Days(Option<f64>),
}

fn header(l: Lang) -> Vec<String> {
    let mut h = vec![
        tr(l, "代码", "Code").to_string(),
        tr(l, "名称", "Name").to_string(),
        tr(l, "办件数", "Requests").to_string(),
    ];
    h.extend(Status::ALL.iter().map(|s| status_label(*s, l).to_string()));
    h.extend(
        [
            tr(l, "已决定", "Decided"),
            tr(l, "按时决定", "Decided on time"),
            tr(l, "按时率(%)", "On-time rate (%)"),
            tr(l, "平均办理工作日", "Average working days"),
            tr(l, "评价数", "Rated"),
        ]
        .map(str::to_string),
    );
    h.extend(RATINGS.iter().map(|r| rating_label(*r, l).to_string()));
    h.push(tr(l, "满意率(%)", "Share satisfied (%)").to_string());
    h
}

fn cells(g: &Group, l: Lang) -> Vec<Cell> {
    let mut c = vec![
        Cell::Text(g.code.clone()),
        Cell::Text(g.name(l).to_string()),
        Cell::Count(g.count),
    ];
    c.extend(g.by_status.iter().map(|n| Cell::Count(*n)));
    c.extend([
        Cell::Count(g.decided),
        Cell::Count(g.on_time),
        Cell::Share(g.on_time_rate()),
        Cell::Days(g.average_working_days()),
        Cell::Count(g.rated()),
    ]);
    c.extend(g.ratings.iter().map(|n| Cell::Count(*n)));
    c.push(Cell::Share(g.satisfied_share()));
    c
}

/// A CSV field: quoted when it holds a separator, quote or line break, and with a leading `'`
/// when a spreadsheet would take it for a formula.
pub(crate) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The figures as CSV: a byte-order mark (Excel then reads UTF-8), a header row, then one row
/// per village, one per service item, and the total; the first column says which. Rates are
/// percentages with one decimal, empty when undefined. Lines end with CRLF (RFC 4180).
pub fn csv(summary: &Summary, l: Lang) -> String {
    let mut out = String::from("\u{feff}");
    let mut line = |scope: &str, cells: Vec<String>| {
        let fields: Vec<String> = std::iter::once(csv_field(scope))
            .chain(cells.iter().map(|c| csv_field(c)))
            .collect();
        let _ = write!(out, "{}\r\n", fields.join(","));
    };
    let mut head = vec![tr(l, "范围", "Scope").to_string()];
    head.extend(header(l));
    line(&head[0].clone(), head[1..].to_vec());
    let text = |g: &Group| -> Vec<String> {
        cells(g, l)
            .into_iter()
            .map(|c| match c {
                Cell::Text(t) => t,
                Cell::Count(n) => n.to_string(),
                Cell::Share(s) => s.map(|s| format!("{:.1}", s * 100.0)).unwrap_or_default(),
                Cell::Days(d) => d.map(|d| format!("{d:.1}")).unwrap_or_default(),
            })
            .collect()
    };
    for g in &summary.villages {
        line(tr(l, "村", "village"), text(g));
    }
    for g in &summary.items {
        line(tr(l, "事项", "item"), text(g));
    }
    line(tr(l, "合计", "total"), text(&summary.total));
    out
}

/// The names of the workbook's sheets.
pub fn sheet_names(l: Lang) -> [&'static str; 2] {
    [tr(l, "按村", "By village"), tr(l, "按事项", "By item")]
}

/// The figures as an Excel workbook: two sheets, by village and by service item, each with a
/// header row and the total at the bottom; rates are numbers formatted as percentages.
pub fn xlsx(summary: &Summary, l: Lang) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let share = Format::new().set_num_format("0.0%");
    let one_decimal = Format::new().set_num_format("0.0");
    let total_bold = Format::new().set_bold();
    for (name, groups) in sheet_names(l)
        .into_iter()
        .zip([&summary.villages, &summary.items])
    {
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        for (col, h) in header(l).iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            sheet.write_string_with_format(0, col, h, &bold)?;
            sheet.set_column_width(col, if col == 1 { 24 } else { 12 })?;
        }
        sheet.set_freeze_panes(1, 2)?;
        let rows = groups.iter().chain(std::iter::once(&summary.total));
        for (row, g) in rows.enumerate() {
            let row = u32::try_from(row + 1).unwrap_or(u32::MAX);
            for (col, cell) in cells(g, l).into_iter().enumerate() {
                let col = u16::try_from(col).unwrap_or(u16::MAX);
                match cell {
                    Cell::Text(t) if g.code.is_empty() => {
                        sheet.write_string_with_format(row, col, t, &total_bold)?;
                    }
                    Cell::Text(t) => {
                        sheet.write_string(row, col, t)?;
                    }
                    Cell::Count(n) => {
                        sheet.write_number(row, col, n as f64)?;
                    }
                    Cell::Share(Some(s)) => {
                        sheet.write_number_with_format(row, col, s, &share)?;
                    }
                    Cell::Days(Some(d)) => {
                        sheet.write_number_with_format(row, col, d, &one_decimal)?;
                    }
                    Cell::Share(None) | Cell::Days(None) => {}
                }
            }
        }
    }
    book.save_to_buffer()
}

fn summary_table(groups: &[Group], total: &Group, first: &str, l: Lang) -> Markup {
    html! {
        table {
            thead { tr {
                th { (first) }
                th { (tr(l, "办件数", "Requests")) }
                @for i in 0..BUCKETS.len() { th { (bucket_label(i, l)) } }
                th { (tr(l, "按时率", "On time")) }
                th { (tr(l, "平均工作日", "Avg. working days")) }
                th { (tr(l, "评价数", "Rated")) }
                th { (tr(l, "满意率", "Satisfied")) }
            } }
            tbody {
                @for g in groups.iter().chain(std::iter::once(total)) {
                    tr {
                        @if g.code.is_empty() { th { (g.name(l)) } } @else { td { (g.name(l)) } }
                        td { (g.count) }
                        @for (s, _) in BUCKETS { td { (g.statuses(s)) } }
                        td { (percent(g.on_time_rate())) }
                        td { (days(g.average_working_days())) }
                        td { (g.rated()) }
                        td { (percent(g.satisfied_share())) }
                    }
                }
            }
        }
    }
}

fn detail_table(groups: &[Group], total: &Group, first: &str, l: Lang) -> Markup {
    html! {
        table {
            thead { tr {
                th { (first) }
                @for s in Status::ALL { th { (status_label(s, l)) } }
                @for r in RATINGS { th { (rating_label(r, l)) } }
            } }
            tbody {
                @for g in groups.iter().chain(std::iter::once(total)) {
                    tr {
                        td { (g.name(l)) }
                        @for n in g.by_status { td { (n) } }
                        @for n in g.ratings { td { (n) } }
                    }
                }
            }
        }
    }
}

/// The dashboard's section of the console page: the charts, a summary table per village and
/// per service item, and the full counts by status and rating (folded away).
pub fn section(summary: &Summary, l: Lang) -> Markup {
    let village = tr(l, "村", "Village");
    let item = tr(l, "事项", "Service item");
    html! {
        section.dashboard {
            p {
                small {
                    (tr(l, "按时率 = 按时决定 ÷ 已决定；平均工作日 = 受理到决定的工作日之和 ÷ 已决定；\
                            满意率 = （非常满意 + 满意 + 基本满意）÷ 评价数。",
                        "On time = decided on time ÷ decided; average working days = working days \
                         from acceptance to decision ÷ decided; satisfied = (very satisfied + \
                         satisfied + basically satisfied) ÷ rated."))
                }
            }
            div.cols.charts {
                div.card { (PreEscaped(svg_by_village(summary, l))) }
                div.card { (PreEscaped(svg_on_time(summary, l))) }
            }
            h2 { (tr(l, "按村", "By village")) }
            div.scroll { (summary_table(&summary.villages, &summary.total, village, l)) }
            h2 { (tr(l, "按事项", "By service item")) }
            div.card { (PreEscaped(svg_by_item(summary, l))) }
            div.scroll { (summary_table(&summary.items, &summary.total, item, l)) }
            h2 { (tr(l, "好差评", "Satisfaction ratings")) }
            div.card { (PreEscaped(svg_satisfaction(summary, l))) }
            details {
                summary { (tr(l, "各状态、各评价的件数", "Counts by status and rating")) }
                div.scroll { (detail_table(&summary.villages, &summary.total, village, l)) }
                div.scroll { (detail_table(&summary.items, &summary.total, item, l)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bianmin_domain::catalog::{County, Township};
    use bianmin_domain::{HandlingLevel, ServiceItem, Village};

    /// A row of counts: `[count, decided, on_time, working_days]`.
    fn stat(
        village: &str,
        item: &str,
        status: Status,
        rating: Option<Rating>,
        [count, decided, on_time, working_days]: [u64; 4],
    ) -> RequestStat {
        RequestStat {
            village: village.into(),
            item_code: item.into(),
            status,
            rating,
            count,
            decided,
            on_time,
            working_days,
        }
    }

    fn directory() -> Directory {
        let village = |code: &str, zh: &str, en: &str| Village {
            code: code.into(),
            name_zh: zh.into(),
            name_en: en.into(),
            grids: vec![],
            households: 0,
            representatives: 0,
        };
        Directory {
            county: County {
                code: "370883".into(),
                name_zh: "示范县".into(),
                name_en: "Demo County".into(),
            },
            townships: vec![Township {
                code: "370883101".into(),
                name_zh: "太平镇".into(),
                name_en: "Taiping".into(),
                villages: vec![
                    village("370883101202", "西村", "West <&> \"Village\""),
                    village("370883101201", "东村", "East Village"),
                ],
            }],
        }
    }

    fn catalog() -> Catalog {
        let item = |code: &str, zh: &str, en: &str| ServiceItem {
            code: code.into(),
            name_zh: zh.into(),
            name_en: en.into(),
            level: HandlingLevel::Village,
            time_limit_days: 5,
            materials: vec![],
            materials_zh: vec![],
            attributes: vec![],
        };
        Catalog {
            items: vec![
                item("SOC-CARD", "社保卡", "Social security card"),
                item("AID-DIBAO", "低保", "Minimum living allowance"),
            ],
        }
    }

    const EAST: &str = "370883101201";
    const WEST: &str = "370883101202";

    fn stats() -> Vec<RequestStat> {
        vec![
            stat(
                EAST,
                "SOC-CARD",
                Status::Completed,
                Some(Rating::VerySatisfied),
                [3, 3, 3, 6],
            ),
            stat(
                EAST,
                "SOC-CARD",
                Status::Completed,
                Some(Rating::Dissatisfied),
                [1, 1, 0, 9],
            ),
            stat(EAST, "AID-DIBAO", Status::Rejected, None, [2, 2, 1, 30]),
            stat(EAST, "AID-DIBAO", Status::Forwarded, None, [4, 0, 0, 0]),
            stat(WEST, "AID-DIBAO", Status::Submitted, None, [5, 0, 0, 0]),
            stat(
                "370883101299",
                "OLD-ITEM",
                Status::Withdrawn,
                None,
                [1, 0, 0, 0],
            ),
        ]
    }

    #[test]
    fn counts_rates_and_averages() {
        let s = summarise(&stats(), &directory(), &catalog());
        let codes: Vec<&str> = s.villages.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(
            codes,
            [WEST, EAST, "370883101299"],
            "directory order, then unknown"
        );
        let items: Vec<&str> = s.items.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(
            items,
            ["SOC-CARD", "AID-DIBAO", "OLD-ITEM"],
            "catalog order"
        );

        let east = &s.villages[1];
        assert_eq!(east.name(Lang::Zh), "东村");
        assert_eq!(east.count, 10);
        assert_eq!(east.status(Status::Completed), 4);
        assert_eq!(east.status(Status::Forwarded), 4);
        assert_eq!(east.status(Status::Rejected), 2);
        assert_eq!((east.decided, east.on_time, east.working_days), (6, 4, 45));
        assert_eq!(east.on_time_rate(), Some(4.0 / 6.0));
        assert_eq!(east.average_working_days(), Some(7.5));
        assert_eq!(east.rated(), 4);
        assert_eq!(east.rating(Rating::VerySatisfied), 3);
        assert_eq!(east.satisfied_share(), Some(0.75));

        // Nothing decided or rated: undefined, not zero.
        let west = &s.villages[0];
        assert_eq!(west.count, 5);
        assert_eq!(west.on_time_rate(), None);
        assert_eq!(west.average_working_days(), None);
        assert_eq!(west.satisfied_share(), None);
        assert_eq!(percent(west.on_time_rate()), "–");

        let unknown = &s.villages[2];
        assert_eq!(unknown.name(Lang::En), "370883101299", "named by code");

        let dibao = &s.items[1];
        assert_eq!(dibao.count, 11);
        assert_eq!(dibao.on_time_rate(), Some(0.5));
        assert_eq!(dibao.average_working_days(), Some(15.0));

        assert_eq!(s.total.count, 16);
        assert_eq!(s.total.by_status.iter().sum::<u64>(), 16);
        assert_eq!(percent(s.total.on_time_rate()), "66.7%");
        assert_eq!(days(s.total.average_working_days()), "7.5");

        let empty = summarise(&[], &directory(), &catalog());
        assert!(empty.villages.is_empty() && empty.items.is_empty());
        assert_eq!(empty.total.on_time_rate(), None);
    }

    #[test]
    fn legends_wrap_to_new_rows_inside_the_charts_width() {
        let long = [(
            "a series name far longer than any the hub has today",
            "#000",
        ); 4];
        for l in [Lang::Zh, Lang::En] {
            let buckets: Vec<(&str, &str)> = (0..BUCKETS.len())
                .map(|i| (bucket_label(i, l), BUCKETS[i].1))
                .collect();
            let ratings: Vec<(&str, &str)> = RATINGS
                .iter()
                .zip(RATING_COLOURS)
                .map(|(r, c)| (rating_label(*r, l), c))
                .collect();
            for series in [&buckets[..], &ratings[..], &long[..]] {
                let places = legend_places(series);
                let mut end_of_row = std::collections::BTreeMap::new();
                for ((name, _), (x, row)) in series.iter().zip(&places) {
                    let end = x + 16 + text_width(name);
                    assert!(end <= WIDTH || *x == 0, "{name} at {x} passes the width");
                    let before = end_of_row.insert(*row, end).unwrap_or(0);
                    assert!(before <= *x, "{name} overlaps the entry before it");
                }
            }
        }
        // The long names take a row each; the chart grows to fit them.
        assert_eq!(legend_places(&long).last(), Some(&(0, 3)));
    }

    #[test]
    fn charts_are_well_formed_svg_with_escaped_names() {
        let s = summarise(&stats(), &directory(), &catalog());
        for (svg, title) in [
            (svg_by_village(&s, Lang::En), "Requests by village"),
            (svg_by_item(&s, Lang::En), "Requests by service item"),
            (svg_on_time(&s, Lang::En), "On-time rate by village"),
            (
                svg_satisfaction(&s, Lang::En),
                "Satisfaction ratings by village",
            ),
            (svg_by_village(&Summary::default(), Lang::Zh), "各村办件量"),
        ] {
            let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "svg");
            assert_eq!(
                root.tag_name().namespace(),
                Some("http://www.w3.org/2000/svg")
            );
            assert_eq!(root.attribute("role"), Some("img"));
            let first = root.first_element_child().unwrap();
            assert_eq!(first.tag_name().name(), "title");
            assert_eq!(first.text(), Some(title));
            let labelled = root.attribute("aria-labelledby").unwrap();
            assert!(labelled.contains(first.attribute("id").unwrap()));
        }
        let svg = svg_by_village(&s, Lang::En);
        assert!(
            svg.contains("West &lt;&amp;&gt; &quot;Village&quot;"),
            "{svg}"
        );
        assert!(!svg.contains("<&>"));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert!(
            texts.contains(&"West <&> \"Vil…"),
            "shortened on the axis: {texts:?}"
        );
        let row_titles: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("g"))
            .filter_map(|g| g.first_element_child()?.text())
            .collect();
        assert_eq!(
            row_titles,
            [
                "West <&> \"Village\": 5",
                "East Village: 10",
                "370883101299: 1"
            ],
            "in full in each bar's title"
        );
        // One bar per village; East's segments are in progress 4, completed 4, rejected 2.
        let bar_titles: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect"))
            .filter_map(|n| n.first_element_child())
            .filter_map(|t| t.text().map(str::to_string))
            .collect();
        assert!(bar_titles.contains(&"East Village · In progress: 4".to_string()));
        assert!(bar_titles.contains(&"East Village · Completed: 4".to_string()));
        assert!(bar_titles.contains(&"East Village · Refused or rejected: 2".to_string()));
        let on_time = svg_on_time(&s, Lang::En);
        assert!(on_time.contains("66.7%"), "East's rate");
        assert!(!on_time.contains("West &lt;"), "West has nothing decided");
    }

    #[test]
    fn csv_has_a_bom_a_header_and_one_row_per_group() {
        let s = summarise(&stats(), &directory(), &catalog());
        let text = csv(&s, Lang::En);
        assert!(text.starts_with('\u{feff}'));
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(
            lines.len(),
            1 + 3 + 3 + 1 + 1,
            "header, villages, items, total, end"
        );
        assert_eq!(lines.last(), Some(&""));
        assert!(lines[0].starts_with("Scope,Code,Name,Requests,Draft,Submitted,"));
        assert!(lines[0].ends_with(",Very dissatisfied,Share satisfied (%)"));
        let header_cols = lines[0].split(',').count();
        assert_eq!(header_cols, 25);
        assert_eq!(
            lines[1],
            "village,370883101202,\"West <&> \"\"Village\"\"\",5,0,5,0,0,0,0,0,0,0,0,0,0,,,0,0,0,0,0,0,"
        );
        assert_eq!(
            lines[2],
            "village,370883101201,East Village,10,0,0,0,0,4,0,0,2,4,0,6,4,66.7,7.5,4,3,0,0,1,0,75.0"
        );
        assert_eq!(
            lines[5],
            "item,AID-DIBAO,Minimum living allowance,11,0,5,0,0,4,0,0,2,0,0,2,1,50.0,15.0,0,0,0,0,0,0,"
        );
        assert!(lines[7].starts_with("total,,Total,16,"));
        let zh = csv(&s, Lang::Zh);
        assert!(zh.contains("范围,代码,名称,办件数,草稿,"));
        assert!(zh.contains("\r\n村,370883101201,东村,10,"));
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }

    #[test]
    fn xlsx_is_a_workbook_with_a_sheet_per_grouping() {
        use std::io::Read;
        let s = summarise(&stats(), &directory(), &catalog());
        let bytes = xlsx(&s, Lang::Zh).unwrap();
        assert!(bytes.starts_with(b"PK\x03\x04"), "a ZIP");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut read = |name: &str| {
            let mut text = String::new();
            zip.by_name(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .read_to_string(&mut text)
                .unwrap();
            text
        };
        let workbook = read("xl/workbook.xml");
        assert!(
            workbook.contains(r#"<sheet name="按村" sheetId="1""#),
            "{workbook}"
        );
        assert!(
            workbook.contains(r#"<sheet name="按事项" sheetId="2""#),
            "{workbook}"
        );
        let app = read("docProps/app.xml");
        assert!(
            app.contains("Microsoft Excel"),
            "rust_xlsxwriter's app properties"
        );
        let strings = read("xl/sharedStrings.xml");
        for s in ["东村", "西村", "低保", "合计", "满意率(%)"] {
            assert!(strings.contains(s), "{s} in {strings}");
        }
        let sheet1 = read("xl/worksheets/sheet1.xml");
        // Village rows 2 to 4 and the total on row 5; East's on-time rate as a fraction.
        assert!(sheet1.contains(r#"<c r="P3" s="#), "{sheet1}");
        assert!(sheet1.contains("<v>0.6666666666666666</v>"), "{sheet1}");
        assert!(sheet1.contains(r#"<row r="5""#));
        assert!(!sheet1.contains(r#"<row r="6""#));
        assert!(
            xlsx(&Summary::default(), Lang::En).is_ok(),
            "empty works too"
        );
    }
}
