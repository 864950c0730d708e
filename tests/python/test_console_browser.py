"""The web console in a real browser (Debian's Chromium through Selenium, nothing downloaded): the walk-through an
operator makes, with a screenshot of each page in the test output directory (KEYHAVEN_TEST_OUTPUT, else
target/test-output) under console/."""

import json
import os
import pathlib

import pytest
from client_helpers import new_user
from policy_docs import allow, policy

selenium = pytest.importorskip("selenium", reason="installed from tests/python/requirements.txt by the test command")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PREFIX = "/_keyhaven/console"
OUTPUT = pathlib.Path(os.environ.get("KEYHAVEN_TEST_OUTPUT", pathlib.Path(__file__).resolve().parents[2] / "target" / "test-output")) / "console"
PAGES = {
    "home": "",
    "keys": "/kms",
    "parameters": "/ssm",
    "secrets": "/secrets",
    "iam": "/iam",
    "simulator": "/iam/simulator?principal=arn%3Aaws%3Aiam%3A%3A000000000000%3Auser%2Fviewer&actions=kms%3AListKeys+kms%3ACreateKey",
    "audit": "/audit",
    "buckets": "/s3",
}


@pytest.fixture(scope="module")
def browser():
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(argument)
    # A path to the driver means Selenium Manager is never run: nothing is downloaded.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture
def server(keyhaven_factory, browser):
    browser.delete_all_cookies()
    return keyhaven_factory("--dev", "--console")


def shot(browser, name):
    browser.save_screenshot(str(OUTPUT / f"{name}.png"))


def open_page(browser, server, path):
    browser.get(f"{server.endpoint}{PREFIX}/us-east-1{path}")


def alert_text(browser):
    return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".alert"))


def sign_in(browser, server, access_key_id="test", secret="test"):
    browser.get(f"{server.endpoint}{PREFIX}/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in to keyhaven"
    browser.find_element(By.NAME, "access_key_id").send_keys(access_key_id)
    browser.find_element(By.NAME, "secret_access_key").send_keys(secret)
    click(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def replaced(element):
    """A wait condition: `element` no longer belongs to the page. Mid-navigation Chromium answers either "stale element"
    or an inspector error ("Node with given id does not belong to the document"); both mean it is gone."""
    def gone(_):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True
    return gone


def navigating(browser, act):
    """Runs `act` (a click that loads a page) and waits until the new page has replaced the old one."""
    old = browser.find_element(By.TAG_NAME, "html")
    act()
    WebDriverWait(browser, 20).until(replaced(old))
    WebDriverWait(browser, 20, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script("return document.readyState") == "complete")


def click(browser, element):
    navigating(browser, element.click)


def submit(form):
    click(form.parent, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def test_walk_through(server, browser):
    kms = server.client("kms")
    # Sign in.
    browser.get(f"{server.endpoint}{PREFIX}/sign-in")
    shot(browser, "sign-in")
    sign_in(browser, server)
    assert browser.current_url.endswith(f"{PREFIX}/us-east-1")
    assert "arn:aws:iam::000000000000:root" in browser.page_source

    # Create a key with an alias, from the keys page's form.
    open_page(browser, server, "/kms")
    browser.find_element(By.TAG_NAME, "summary").click()
    form = browser.find_element(By.CSS_SELECTOR, "form[action$='/kms']")
    form.find_element(By.NAME, "alias").send_keys("alias/walk")
    form.find_element(By.NAME, "description").send_keys("made in the browser")
    # The choices are the model's: every KeySpec KMS's model lists, the default selected.
    specs = [o.text for o in form.find_elements(By.CSS_SELECTOR, "select[name=key_spec] option")]
    assert "SYMMETRIC_DEFAULT" in specs and "ML_DSA_65" in specs and "HMAC_256" in specs
    assert form.find_element(By.CSS_SELECTOR, "select[name=key_spec] option:checked").text == "SYMMETRIC_DEFAULT"
    submit(form)
    assert "Key created." in alert_text(browser)
    key_id = kms.describe_key(KeyId="alias/walk")["KeyMetadata"]["KeyId"]
    assert key_id in browser.current_url
    shot(browser, "key")

    # Edit its policy with a mistake: PutKeyPolicy's own error, inline, with the text kept; nothing saved.
    before = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    editor = browser.find_element(By.ID, "policy-text")
    broken = editor.get_attribute("value").replace('"Effect"', '"Efect"', 1)
    editor.clear()
    editor.send_keys(broken)
    submit(browser.find_element(By.CSS_SELECTOR, "form[action$='#policy']"))
    assert "MalformedPolicyDocumentException" in alert_text(browser)
    assert browser.find_element(By.ID, "policy-text").get_attribute("value") == broken
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == before
    shot(browser, "key-policy-error")

    # Disable it, then enable it again.
    def disable_and_confirm():
        browser.find_element(By.XPATH, "//button[text()='Disable']").click()
        browser.switch_to.alert.accept()

    navigating(browser, disable_and_confirm)
    assert "Key disabled." in alert_text(browser)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    click(browser, browser.find_element(By.XPATH, "//button[text()='Enable']"))
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    open_page(browser, server, "/kms")
    assert "alias/walk" in browser.page_source
    shot(browser, "keys")

    # Put a parameter and browse to it through the tree.
    open_page(browser, server, "/ssm")
    browser.find_element(By.TAG_NAME, "summary").click()
    form = browser.find_element(By.CSS_SELECTOR, "form[action$='/ssm/parameter']")
    name = form.find_element(By.NAME, "name")
    name.clear()
    name.send_keys("/team/app/db-host")
    form.find_element(By.NAME, "value").send_keys("db.internal")
    submit(form)
    assert "New version saved." in alert_text(browser), (browser.current_url, browser.page_source[:3000])
    assert server.client("ssm").get_parameter(Name="/team/app/db-host")["Parameter"]["Value"] == "db.internal"
    open_page(browser, server, "/ssm")
    click(browser, browser.find_element(By.LINK_TEXT, "team/"))
    click(browser, browser.find_element(By.LINK_TEXT, "app/"))
    click(browser, browser.find_element(By.LINK_TEXT, "/team/app/db-host"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "/team/app/db-host"
    # A second version, then compare the two.
    form = browser.find_element(By.CSS_SELECTOR, "form.row input[name=overwrite]").find_element(By.XPATH, "..")
    form.find_element(By.NAME, "value").send_keys("db2.internal")
    submit(form)
    submit(browser.find_element(By.CSS_SELECTOR, "form[action$='#compare']"))
    diff = browser.find_element(By.CSS_SELECTOR, "pre.diff").text
    assert "- db.internal" in diff and "+ db2.internal" in diff
    shot(browser, "parameter")

    # Reveal a secret, then find the reveal in the audit timeline.
    server.client("secretsmanager").create_secret(Name="prod/db", SecretString="correct horse battery staple")
    open_page(browser, server, "/secrets")
    click(browser, browser.find_element(By.LINK_TEXT, "prod/db"))
    assert "correct horse" not in browser.page_source, "nothing secret is rendered until asked"
    click(browser, browser.find_element(By.XPATH, "//button[text()='Reveal value']"))
    assert browser.find_element(By.ID, "revealed-value").text == "correct horse battery staple"
    shot(browser, "secret-revealed")
    open_page(browser, server, "/audit")
    browser.find_element(By.NAME, "event").send_keys("GetSecretValue")
    submit(browser.find_element(By.CSS_SELECTOR, "form[action$='/audit']"))
    events = browser.find_elements(By.CSS_SELECTOR, "details.event")
    assert len(events) == 1
    events[0].find_element(By.TAG_NAME, "summary").click()
    record = json.loads(events[0].find_element(By.TAG_NAME, "pre").text)
    assert record["eventName"] == "GetSecretValue" and record["userAgent"] == "keyhaven-console"
    assert "correct horse" not in browser.page_source, "the audit record holds no secret"
    click(browser, browser.find_element(By.XPATH, "//button[text()='Verify the audit chain']"))
    assert "Audit chain intact" in alert_text(browser)
    shot(browser, "audit")

    # Every other page, at desktop and phone widths.
    new_user(server, "viewer", policy(allow(["kms:List*", "kms:Describe*"])))
    for label, path in PAGES.items():
        open_page(browser, server, path)
        assert browser.find_element(By.TAG_NAME, "h1").text, label
        shot(browser, f"page-{label}")
        if label == "simulator":
            # The matched statement is highlighted in the user's policy; CreateKey matches none.
            decisions = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "section.result h2")]
            assert decisions == ["kms:ListKeys on *: allowed", "kms:CreateKey on *: implicitDeny"], decisions
            marked = browser.find_element(By.CSS_SELECTOR, "section.result pre mark").text
            assert marked.startswith("{") and marked.endswith("}") and '"kms:List*"' in marked and '"Allow"' in marked
    browser.set_window_size(390, 844)
    for label, path in PAGES.items():
        open_page(browser, server, path)
        shot(browser, f"phone-{label}")
    browser.set_window_size(1280, 900)

    # Sign out: the saved cookie no longer opens the console.
    cookie = browser.get_cookie("keyhaven-console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    click(browser, browser.find_element(By.XPATH, "//button[text()='Sign out']"))
    assert "You are signed out." in alert_text(browser)
    browser.add_cookie({k: cookie[k] for k in ("name", "value", "path", "httpOnly", "sameSite")})
    open_page(browser, server, "/kms")
    assert browser.current_url.endswith(f"{PREFIX}/sign-in?expired=0") or browser.current_url.endswith(f"{PREFIX}/sign-in")


def test_a_denied_action_says_so_and_changes_nothing(server, browser):
    kms = server.client("kms")
    key_id, secret = new_user(server, "viewer", policy(allow(["kms:List*", "kms:Describe*"])))
    before = len(kms.list_keys()["Keys"])
    sign_in(browser, server, key_id, secret)
    assert "user/viewer" in browser.page_source
    open_page(browser, server, "/kms")
    browser.find_element(By.TAG_NAME, "summary").click()
    submit(browser.find_element(By.CSS_SELECTOR, "form[action$='/kms']"))
    shown = alert_text(browser)
    assert "AccessDeniedException" in shown and "is not authorized to perform: kms:CreateKey" in shown
    assert len(kms.list_keys()["Keys"]) == before
    shot(browser, "denied")


def test_keyboard_reaches_every_form_control(server, browser):
    sign_in(browser, server)
    open_page(browser, server, "/kms")
    focusable = browser.execute_script(
        "return [...document.querySelectorAll('a, button, input, select, textarea, summary')]"
        ".filter(e => e.tabIndex < 0 && !e.disabled && e.type !== 'hidden').map(e => e.outerHTML)"
    )
    assert focusable == []
    skip = browser.find_element(By.CSS_SELECTOR, "a.skip")
    assert skip.get_attribute("href").endswith("#main")
