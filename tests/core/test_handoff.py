"""The pre-filled "New Hub - Request Information" issue link: config, encoding, markdown safety, length limit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from daemon.core.handoff import TRUNCATED, URL_LIMIT, new_hub_issue_url
from daemon.errors import ConfigError
from daemon.settings import HandoffConfig, parse_handoff_config

CONFIG = HandoffConfig()
SUMMARY = ("MANIAC-T 5/7: M ✓ (NSF CyberTraining, $480,000) · A ✓ · N ? · I ✓ (spring semester) · A ✓ · C ✓ · T ?\n"
           "M — Money\n"
           '  - "We\'ve applied to the NSF CyberTraining program for $480,000 over three years."\n'
           "    NSF CyberTraining, $480,000 · 2026-10-22 · <t05m2.593a@sonoran-research.org> · rule amount-for-funding")


def query(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "github.com", "/2i2c-org/infrastructure/issues/new")
    return parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)


def westbrook_url(config: HandoffConfig = CONFIG, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "community": "Westbrook University", "tier": "medium", "price": Decimal("3000.00"), "currency": "USD",
        "contacts": ["emarsh@westbrook.edu", "tbecker@westbrook.edu"], "start_date": date(2027, 1, 4),
        "maniac_summary": SUMMARY,
    }
    return new_hub_issue_url(config, **(values | overrides))


def test_url_parses_back_to_template_labels_title_and_body() -> None:
    url = westbrook_url()
    params = query(url)
    assert set(params) == {"template", "labels", "title", "body", "background"}
    assert params["template"] == ["3_new_hub-request-info.yaml"]
    assert params["labels"] == ["type: hub"]
    assert params["title"] == ["[Request Information] New Hub: Westbrook University"]
    [body] = params["body"]
    assert params["background"] == [body]  # the issue form's "Hub Description" field gets the same text
    assert body.splitlines()[2:6] == [
        "- **Community:** Westbrook University",
        "- **Service tier:** medium, USD 3000.00 per month",
        "- **Service start date:** 2027-01-04",
        "- **Community contacts:** `emarsh@westbrook.edu`, `tbecker@westbrook.edu`",
    ]
    assert "```text\n" + SUMMARY + "\n```" in body
    assert TRUNCATED not in body
    # Spaces are %20 (quote, not quote_plus); nothing raw that would end or split the URL.
    assert "%20" in url and "+" not in url and not any(c in url for c in " \n\"<>#")
    assert url.startswith("https://github.com/2i2c-org/infrastructure/issues/new?template=3_new_hub-request-info.yaml"
                          "&labels=type%3A%20hub&title=%5BRequest%20Information%5D%20New%20Hub%3A%20Westbrook")


def test_unknown_values_say_so() -> None:
    body = query(new_hub_issue_url(CONFIG, community="Meadowlark College"))["body"][0]
    assert "- **Service tier:** not known yet" in body
    assert "- **Service start date:** not known yet" in body
    assert "- **Community contacts:** not known yet" in body
    assert "MANIAC-T" not in body and "```" not in body


def test_special_characters_survive_and_cannot_inject_markdown() -> None:
    name = 'Smith & Jones "Lab" #1 = ünï ✓ 100%\n# Heading <b>x</b> [click](https://e.vil) @everyone\u202e'
    url = westbrook_url(community=name, contacts=["a&b@x.org", "evil`@x.org\n# h", ""], tier="me*di_um")
    params = query(url)
    one_line = 'Smith & Jones "Lab" #1 = ünï ✓ 100% # Heading <b>x</b> [click](https://e.vil) @everyone'
    assert params["title"] == [f"[Request Information] New Hub: {one_line}"]
    body = params["body"][0]
    community = next(line for line in body.splitlines() if line.startswith("- **Community:**"))
    assert community == ('- **Community:** Smith & Jones "Lab" \\#1 = ünï ✓ 100% \\# Heading \\<b\\>x\\</b\\> '
                         "\\[click\\](https://e.vil) \\@everyone")
    assert not any(line.startswith("#") for line in body.splitlines())
    assert "- **Service tier:** me\\*di\\_um, USD 3000.00 per month" in body
    assert "- **Community contacts:** `a&b@x.org`, ``evil`@x.org # h``" in body
    assert "\u202e" not in url and "\u202e" not in body


def test_summary_backticks_cannot_close_the_code_block() -> None:
    body = query(westbrook_url(maniac_summary="A ✓\n  - \"we use ``` fences and `code`\"\n## not a heading"))["body"][0]
    lines = body.splitlines()
    opening = lines.index("````text")
    assert lines[opening + 1:] == ["A ✓", '  - "we use ``` fences and `code`"', "## not a heading", "````"]


@pytest.mark.parametrize("filler", ["  - \"We have a budget of $480,000 from the NSF for the hub.\"",
                                    "  - \"Évaluation ✓ — données très volumineuses, 東京 のデータ\""])
def test_huge_body_is_truncated_at_a_line_boundary(filler: str) -> None:
    summary = "\n".join(f"{filler} ({index})" for index in range(2000))
    url = westbrook_url(maniac_summary=summary)
    assert URL_LIMIT - 400 < len(url) <= URL_LIMIT  # truncated, but not much more than needed
    params = query(url)
    body = params["body"][0]
    assert params["background"] == [body]
    lines = body.splitlines()
    assert lines[-1] == TRUNCATED
    assert lines[-2] == "```"  # the open code block is closed before the marker
    kept = lines[:-2]
    full = [*kept[: kept.index("```text") + 1], *summary.splitlines()]
    assert kept == full[: len(kept)]  # whole lines only, in order
    assert kept[-1] == f"{filler} ({len(kept) - kept.index('```text') - 2})"
    assert "- **Community:** Westbrook University" in kept


def test_truncation_without_form_field_keeps_more() -> None:
    summary = "\n".join(f"line {index} of the summary" for index in range(2000))
    body_only = HandoffConfig(form_field="")
    url = new_hub_issue_url(body_only, community="Westbrook University", maniac_summary=summary)
    params = query(url)
    assert "background" not in params
    assert len(url) <= URL_LIMIT
    assert params["body"][0].endswith(TRUNCATED)
    both = query(westbrook_url(maniac_summary=summary))["body"][0]
    assert len(params["body"][0]) > len(both)


def test_huge_values_are_clipped() -> None:
    url = westbrook_url(community="Very Long " * 1000, contacts=[f"c{i}@x.org" for i in range(50)],
                        currency="USD" * 100)
    params = query(url)
    assert len(url) <= URL_LIMIT
    assert len(params["title"][0]) <= 250
    assert "and 40 more" in params["body"][0]


def test_custom_config() -> None:
    config = parse_handoff_config({"repository": "example-org/hubs", "template": "new-hub.md", "labels": "",
                                   "title": "New hub for {community} {{draft}}", "form_field": ""})
    url = new_hub_issue_url(config, community="Westbrook")
    assert url.startswith("https://github.com/example-org/hubs/issues/new?template=new-hub.md&title=")
    params = parse_qs(urlsplit(url).query)
    assert set(params) == {"template", "title", "body"}
    assert params["title"] == ["New hub for Westbrook {draft}"]


def test_parse_handoff_config_defaults() -> None:
    assert parse_handoff_config({}) == HandoffConfig()
    assert HandoffConfig().repository == "2i2c-org/infrastructure"


@pytest.mark.parametrize(("table", "message"), [
    ({"repo": "a/b"}, "[handoff] unknown key(s): repo"),
    ({"labels": ["type: hub"]}, "[handoff] labels: expected a string"),
    ({"repository": "2i2c-org"}, "[handoff] repository: '2i2c-org' is not OWNER/NAME"),
    ({"repository": "https://github.com/2i2c-org/infrastructure"}, "[handoff] repository:"),
    ({"repository": "2i2c-org/.."}, "[handoff] repository:"),
    ({"template": "../secrets.yaml"}, "[handoff] template:"),
    ({"template": "new_hub.txt"}, "[handoff] template:"),
    ({"template": ""}, "[handoff] template:"),
    ({"title": "New hub"}, "[handoff] title: 'New hub' must contain {community}"),
    ({"title": "{community} {tier}"}, "[handoff] title:"),
    ({"title": "{community.__class__}"}, "[handoff] title:"),
    ({"title": "{community"}, "[handoff] title:"),
    ({"labels": "a\nb"}, "[handoff] labels:"),
    ({"form_field": "title"}, "[handoff] form_field: 'title' is not the id"),
    ({"form_field": "hub description"}, "[handoff] form_field:"),
])
def test_parse_handoff_config_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_handoff_config(table)
    assert str(caught.value).startswith(message)


def test_parse_handoff_config_needs_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^\[handoff\] must be a table"):
        parse_handoff_config(["a"])  # type: ignore[arg-type]
