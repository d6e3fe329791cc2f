//! A real headless Chromium for the browser tests, driven through chromedriver (WebDriver) with
//! `fantoccini`: one copy of the scaffolding for every `tests/browser*.rs` file, each of which
//! includes it with `mod webdriver;` (test-only code: fantoccini stays a dev-dependency).
//!
//! - [`in_browser`] (a desktop window, 1280×800), [`in_phone`] (a phone, 390×844 CSS pixels,
//!   3 device pixels each, a mobile user agent: Chrome's `mobileEmulation`) and
//!   [`in_phone_without_javascript`] run a test's steps in a fresh browser of that kind (its own
//!   profile: no cookies), always close it, and return what the steps return. [`in_session`]
//!   takes any [`Session`]; [`in_phone_and_desk`] gives a phone and a desk's window at once.
//!   One test's browsers at a time per test binary: the machines have two cores.
//! - Element helpers wait up to [`WAIT`] for what they look for and, when it does not come,
//!   fail with the address and the page's source: [`css`], [`heading`], [`text`],
//!   [`page_text`], [`type_into`], [`fill`], [`click`].
//! - [`keep_screenshot`] keeps what the window shows as a PNG in the directory
//!   `BIANMIN_SCREENSHOTS` names, when it is set (the screenshots of `docs/images/` are taken
//!   so, by the tests that check those pages: `BIANMIN_SCREENSHOTS=$PWD/docs/images cargo test
//!   -p bianmin-tests --test 'browser*' -- --ignored`).
//! - [`fit`] measures whether the page shown fits a phone ([`Fit::problems`] says what does
//!   not); [`javascript_runs`] tells whether the browser runs pages' scripts at all.
//!
//! Found by trying with Chromium/ChromeDriver 156 headless: `--window-size` cannot make a
//! window narrower than 500 CSS pixels, so a phone is emulated with `mobileEmulation`
//! (`deviceMetrics`), which gives exactly 390×844. Its touch emulation is left off
//! (`"touch": false`): with it, chromedriver taps instead of clicking, and a tap on a link of
//! the hub's pages hung the click command for good; the pages have nothing touch-specific.
//! On an emulated phone `window.innerWidth` grows past the screen's width when the content is
//! wider (the browser zooms out), so [`fit`] compares the content's width with `screen.width`
//! too. `--disable-javascript` is ignored, while the content setting
//! `profile.managed_default_content_settings.javascript: 2` turns scripts off (WebDriver's own
//! `execute` still works then, so [`fit`] can still measure).
//!
//! Chromium and chromedriver are not on a fresh developer machine: `.ci/run` installs them
//! (`chromium chromium-driver fonts-noto-cjk`); `CHROMEDRIVER` names another chromedriver.

// Each test file that includes this compiles it as its own crate and uses only part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

/// The phone [`in_phone`] emulates: width and height in CSS pixels, device pixels per CSS
/// pixel (a common 6.1-inch phone).
pub const PHONE: (u32, u32, f64) = (390, 844, 3.0);

/// The user agent of the emulated phone (Chrome on Android).
pub const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36";

/// The least font size of a phone page's text, in CSS pixels.
pub const PHONE_MIN_TEXT_PX: f64 = 18.0;

/// The least height of a button on a phone, in CSS pixels (a fingertip).
pub const PHONE_MIN_BUTTON_PX: f64 = 44.0;

/// One browser at a time: the machines have two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What kind of screen a session has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// A desk screen's window, 1280×800.
    Desktop,
    /// A phone, [`PHONE`], with [`PHONE_USER_AGENT`] (a mouse's clicks, not taps: see the
    /// module's notes).
    Phone,
}

/// What browser a test gets: its screen, and whether it runs pages' JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The screen.
    pub screen: Screen,
    /// Whether pages' scripts run.
    pub javascript: bool,
}

impl Session {
    /// A desktop browser with JavaScript.
    pub fn desktop() -> Session {
        Session {
            screen: Screen::Desktop,
            javascript: true,
        }
    }

    /// A phone with JavaScript.
    pub fn phone() -> Session {
        Session {
            screen: Screen::Phone,
            javascript: true,
        }
    }

    /// The same, with pages' JavaScript turned off.
    pub fn without_javascript(self) -> Session {
        Session {
            javascript: false,
            ..self
        }
    }

    /// The WebDriver capabilities that ask chromedriver for this session.
    pub fn capabilities(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut args = vec![
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ];
        if self.screen == Screen::Desktop {
            args.push("--window-size=1280,800");
        }
        let mut options = serde_json::json!({ "args": args });
        if Path::new("/usr/bin/chromium").exists() {
            options["binary"] = "/usr/bin/chromium".into();
        }
        if self.screen == Screen::Phone {
            let (width, height, pixel_ratio) = PHONE;
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": {
                    "width": width, "height": height, "pixelRatio": pixel_ratio, "touch": false,
                },
                "userAgent": PHONE_USER_AGENT,
            });
        }
        if !self.javascript {
            options["prefs"] =
                serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        capabilities
    }
}

/// chromedriver on a free loopback port; killed on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver (`CHROMEDRIVER`, or `chromedriver` on the path) and waits until it
    /// answers.
    pub fn start() -> Driver {
        let program = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{program}` ({e}): the browser tests need Chromium and \
                     ChromeDriver (Debian: `apt-get install chromium chromium-driver \
                     fonts-noto-cjk`; .ci/run installs them), or CHROMEDRIVER=/path/to/it"
                )
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Ready when it answers its status endpoint.
        let deadline = Instant::now() + WAIT;
        while ureq::get(&format!("{}/status", driver.url)).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not come up at {}",
                driver.url
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// Its WebDriver address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A fresh headless Chromium session of the kind `session` says (its own profile: no
    /// cookies).
    pub async fn open(&self, session: Session) -> Client {
        ClientBuilder::new(HttpConnector::new())
            .capabilities(session.capabilities())
            .connect(&self.url)
            .await
            .expect("a Chromium session through chromedriver")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `steps` in a fresh browser of the kind `session` says, always ends the session
/// (closing Chromium), also when a step fails, and then fails with the step's panic; returns
/// what the steps return.
pub fn in_session<T, F, Fut>(session: Session, steps: F) -> T
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = driver.open(session).await;
        let outcome = tokio::spawn(steps(client.clone())).await;
        let _ = client.close().await;
        match outcome {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    })
}

/// Runs `steps` with two browsers side by side, a phone ([`PHONE`]) and a desk's window, as
/// a resident and a reviewer at the same time: both stay open for all the steps (the phone
/// keeps its sign-in), and both are closed at the end, also when a step fails.
pub fn in_phone_and_desk<T, F, Fut>(steps: F) -> T
where
    F: FnOnce(Client, Client) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let phone = driver.open(Session::phone()).await;
        let desk = driver.open(Session::desktop()).await;
        let outcome = tokio::spawn(steps(phone.clone(), desk.clone())).await;
        let _ = phone.close().await;
        let _ = desk.close().await;
        match outcome {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    })
}

/// [`in_session`] on a desktop browser.
pub fn in_browser<T, F, Fut>(steps: F) -> T
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    in_session(Session::desktop(), steps)
}

/// [`in_session`] on a phone ([`PHONE`]).
pub fn in_phone<T, F, Fut>(steps: F) -> T
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    in_session(Session::phone(), steps)
}

/// [`in_session`] on a phone that runs no page's JavaScript.
pub fn in_phone_without_javascript<T, F, Fut>(steps: F) -> T
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    in_session(Session::phone().without_javascript(), steps)
}

/// Fails with what `c` shows now: the address and the page's source.
async fn fail_here(c: &Client, what: String) -> ! {
    let at = c.current_url().await.map(String::from).unwrap_or_default();
    let page = c.source().await.unwrap_or_default();
    panic!("{what} at {at}: {page}");
}

/// Waits for the element `selector` selects (a page is loaded when what it alone shows is
/// there).
pub async fn css(c: &Client, selector: &str) -> Element {
    match c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(element) => element,
        Err(e) => fail_here(c, format!("no `{selector}` within {WAIT:?} ({e})")).await,
    }
}

/// Waits for an `<h1>` reading `title` (whitespace normalised).
pub async fn heading(c: &Client, title: &str) {
    let xpath = format!("//h1[normalize-space()='{title}']");
    if let Err(e) = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
    {
        fail_here(c, format!("no heading `{title}` within {WAIT:?} ({e})")).await;
    }
}

/// The text shown in the element `selector` selects (waited for). A page's script may draw the
/// element again between finding it and reading it (a stale element): then it is found again.
pub async fn text(c: &Client, selector: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        match css(c, selector).await.text().await {
            Ok(text) => return text,
            Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => fail_here(c, format!("cannot read `{selector}` ({e})")).await,
        }
    }
}

/// All the text the page shows (`<body>`'s rendered text).
pub async fn page_text(c: &Client) -> String {
    text(c, "body").await
}

/// Types `value` into the field `selector` selects (waited for).
pub async fn type_into(c: &Client, selector: &str, value: &str) {
    css(c, selector)
        .await
        .send_keys(value)
        .await
        .expect("typing");
}

/// Replaces what the field `selector` selects holds (waited for) with `value`, as a person
/// who selects it all and types over it (a form shown again keeps what was typed).
pub async fn fill(c: &Client, selector: &str, value: &str) {
    let field = css(c, selector).await;
    field.clear().await.expect("clearing");
    field.send_keys(value).await.expect("typing");
}

/// Clicks the element `selector` selects (waited for).
pub async fn click(c: &Client, selector: &str) {
    css(c, selector).await.click().await.expect("click");
}

/// Whether the browser runs pages' scripts: it opens a page whose only script changes its
/// title (this leaves the page shown before).
pub async fn javascript_runs(c: &Client) -> bool {
    c.goto("data:text/html,<title>off</title><script>document.title='on'</script>")
        .await
        .expect("a data: page");
    c.title().await.expect("title") == "on"
}

/// How the page shown fits a phone's screen, as [`fit`] measures it (CSS pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The page's address.
    pub url: String,
    /// The width of the page's content (`document.documentElement.scrollWidth`).
    pub scroll_width: f64,
    /// The width of the window's layout viewport (`window.innerWidth`). On a phone this grows
    /// past the screen's width when the content is wider (the browser zooms out to show it
    /// all), so it alone cannot tell.
    pub inner_width: f64,
    /// The width of the screen (`screen.width`: [`PHONE`]'s on a phone).
    pub screen_width: f64,
    /// The elements wider than the screen, outermost first: `tag.class "text…" width`.
    pub too_wide: Vec<String>,
    /// `<body>`'s own font size (`getComputedStyle(document.body).fontSize`).
    pub body_font_px: f64,
    /// Every shown text smaller than [`PHONE_MIN_TEXT_PX`]: `tag.class "text…" size`.
    pub small_text: Vec<String>,
    /// The smallest font size of any text shown.
    pub smallest_text_px: f64,
    /// Every shown button (and submit input) lower than [`PHONE_MIN_BUTTON_PX`]:
    /// `"label" height`.
    pub low_buttons: Vec<String>,
    /// How many buttons were measured.
    pub buttons: u32,
    /// The height of the lowest button shown (0 without a button).
    pub lowest_button_px: f64,
}

impl Fit {
    /// Whether the page scrolls sideways, in words with the figures.
    pub fn sideways(&self) -> Option<String> {
        let width = self.inner_width.min(self.screen_width);
        (self.scroll_width > width).then(|| {
            format!(
                "{}: scrolls sideways: content {} px wide on a {width} px screen ({})",
                self.url,
                self.scroll_width,
                self.too_wide.join("; ")
            )
        })
    }

    /// Whether `<body>`'s font size or any text shown is smaller than [`PHONE_MIN_TEXT_PX`],
    /// in words with the figures.
    pub fn small_type(&self) -> Option<String> {
        let mut out = Vec::new();
        if self.body_font_px < PHONE_MIN_TEXT_PX {
            out.push(format!(
                "<body> font-size {} px < {PHONE_MIN_TEXT_PX} px",
                self.body_font_px
            ));
        }
        if !self.small_text.is_empty() {
            out.push(format!(
                "text smaller than {PHONE_MIN_TEXT_PX} px: {}",
                self.small_text.join("; ")
            ));
        }
        (!out.is_empty()).then(|| format!("{}: {}", self.url, out.join("; ")))
    }

    /// Whether a button is lower than [`PHONE_MIN_BUTTON_PX`], in words with the figures.
    pub fn short_buttons(&self) -> Option<String> {
        (!self.low_buttons.is_empty()).then(|| {
            format!(
                "{}: buttons lower than {PHONE_MIN_BUTTON_PX} px: {}",
                self.url,
                self.low_buttons.join("; ")
            )
        })
    }

    /// Everything that does not fit a phone ([`Fit::sideways`], [`Fit::small_type`],
    /// [`Fit::short_buttons`]); empty when all fits.
    pub fn problems(&self) -> Vec<String> {
        [self.sideways(), self.small_type(), self.short_buttons()]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// Measures the page shown (through WebDriver, so also with pages' JavaScript off): sideways
/// scrolling, the size of every shown text (each element with text of its own), the height of
/// every shown button.
pub async fn fit(c: &Client) -> Fit {
    const SCRIPT: &str = r#"
        const minText = arguments[0], minButton = arguments[1];
        const shown = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
            return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
        const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
            + [...e.classList].map(c => '.' + c).join('');
        const words = e => JSON.stringify((e.innerText || e.value || '').trim().slice(0, 30));
        const px = v => Math.round(v * 10) / 10;
        const all = [...document.body.querySelectorAll('*')].filter(shown);
        const width = Math.min(window.innerWidth, screen.width);
        const tooWide = all.filter(e => e.getBoundingClientRect().right > width + 0.5)
            .slice(0, 8)
            .map(e => name(e) + ' ' + words(e) + ' right edge at '
                + px(e.getBoundingClientRect().right) + ' px');
        let smallest = Infinity; const small = [];
        for (const e of [document.body, ...all]) {
            const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
            const field = e.matches('input:not([type=hidden]), button, select, textarea');
            if (!own && !field) continue;
            const size = parseFloat(getComputedStyle(e).fontSize);
            smallest = Math.min(smallest, size);
            if (size < minText) small.push(name(e) + ' ' + words(e) + ' ' + px(size) + ' px');
        }
        const buttons = all.filter(e => e.matches('button, input[type=submit], input[type=button]'));
        const low = buttons.filter(e => e.getBoundingClientRect().height < minButton)
            .map(e => words(e) + ' ' + px(e.getBoundingClientRect().height) + ' px');
        return {
            url: location.pathname + location.search,
            scroll_width: document.documentElement.scrollWidth,
            inner_width: window.innerWidth,
            screen_width: screen.width,
            too_wide: tooWide,
            body_font_px: parseFloat(getComputedStyle(document.body).fontSize),
            small_text: small,
            smallest_text_px: smallest === Infinity ? 0 : smallest,
            low_buttons: low,
            buttons: buttons.length,
            lowest_button_px: buttons.length
                ? px(Math.min(...buttons.map(e => e.getBoundingClientRect().height))) : 0,
        };
    "#;
    let measured = c
        .execute(
            SCRIPT,
            vec![PHONE_MIN_TEXT_PX.into(), PHONE_MIN_BUTTON_PX.into()],
        )
        .await
        .expect("measuring the page");
    let number = |key: &str| {
        measured[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no number `{key}` in {measured}"))
    };
    let list = |key: &str| -> Vec<String> {
        measured[key]
            .as_array()
            .unwrap_or_else(|| panic!("no list `{key}` in {measured}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    };
    Fit {
        url: measured["url"].as_str().unwrap_or_default().to_string(),
        scroll_width: number("scroll_width"),
        inner_width: number("inner_width"),
        screen_width: number("screen_width"),
        too_wide: list("too_wide"),
        body_font_px: number("body_font_px"),
        small_text: list("small_text"),
        smallest_text_px: number("smallest_text_px"),
        low_buttons: list("low_buttons"),
        buttons: number("buttons") as u32,
        lowest_button_px: number("lowest_button_px"),
    }
}

/// With `BIANMIN_SCREENSHOTS` set, keeps what the window shows, with `selector`'s element
/// scrolled to the middle when given, as `name` (a PNG) in that directory. Does nothing
/// otherwise.
pub async fn keep_screenshot(c: &Client, name: &str, selector: Option<&str>) {
    let Some(dir) = std::env::var_os("BIANMIN_SCREENSHOTS") else {
        return;
    };
    if let Some(selector) = selector {
        let element = css(c, selector).await;
        c.execute(
            "arguments[0].scrollIntoView({block: 'center'})",
            vec![serde_json::to_value(&element).expect("an element")],
        )
        .await
        .expect("scrolled");
    }
    let png = c.screenshot().await.expect("a screenshot");
    let path = std::path::Path::new(&dir).join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
