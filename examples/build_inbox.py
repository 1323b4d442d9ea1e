"""Build the example mailbox (inbox.mbox), its leads table (leads.csv) and EXPECTED.md from one set of data.

The threads below are the single source: each message carries what a correct daemon does with it, so
the mailbox and its documentation cannot drift apart. Output is deterministic (fixed dates, Message-IDs,
MIME boundaries and mbox "From " lines; no randomness, no clock): re-running rewrites the same bytes.

    python examples/build_inbox.py [OUTPUT_DIR]      # default: the directory of this file
"""

from __future__ import annotations

import copy
import csv
import hashlib
import html
import io
import mailbox
import os
import re
import sys
import textwrap
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, message_from_string, policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

POLICY = policy.default  # "\n" line endings, headers folded at 78 columns
PARTNERSHIPS = "partnerships@2i2c.org"
OPERATIONS = "operations@codeforsociety.org"
AUTHSERV_ID = "mx.google.com"  # the receiving server of partnerships@2i2c.org (Google Workspace)
DAEMON_DOMAIN = "partnerships-daemon.invalid"
GOOGLE_TZ = ZoneInfo("America/Los_Angeles")  # Google's Received headers use Pacific time

# ---------------------------------------------------------------------------------------------------------
# Data model


@dataclass(frozen=True)
class Person:
    name: str
    addr: str
    tz: str = "UTC"
    client: str = "gmail"  # gmail | outlook | thunderbird | thunderbird-de | apple | iphone | bulk | system
    signature: str = ""
    sig_dash: bool = False  # put the "-- " delimiter line before the signature
    role: str = "external"  # team | operations | external | system

    @property
    def domain(self) -> str:
        return self.addr.rsplit("@", 1)[1].lower()


@dataclass(frozen=True)
class Lead:
    name: str
    status: str  # status in leads.csv; "" for leads the mailbox creates
    contacts: tuple[str, ...]
    domain: str
    tier: str = ""
    fee: str = ""
    cloud_billing_managed: bool = False
    service_start: str = ""
    notes: str = ""


@dataclass(frozen=True)
class CreateLead:
    pass


@dataclass(frozen=True)
class SetStatus:
    new: str


@dataclass(frozen=True)
class Forward:
    what: str  # "Service confirmation" | "Delivery affirmation" | "Contract"
    note: str  # what the forwarded note must state


@dataclass(frozen=True)
class Record:
    what: str  # "affirmation" | "contract"
    detail: str


@dataclass(frozen=True)
class Review:
    reason: str


Action = CreateLead | SetStatus | Forward | Record | Review


@dataclass(frozen=True)
class Expect:
    intent: str
    actions: tuple[Action, ...] = ()
    note: str = ""
    lead: str | None = "thread"  # "thread": the thread's lead; None: no lead; else a lead key


@dataclass(frozen=True)
class Attachment:
    filename: str
    title: str
    lines: tuple[str, ...]  # text lines of the one-page PDF


@dataclass(frozen=True)
class Msg:
    sender: str
    to: tuple[str, ...]
    at: str  # local time of the sender, "YYYY-MM-DD HH:MM:SS"
    gist: str
    expect: Expect
    body: str
    cc: tuple[str, ...] = ()
    reply_to: int | None = None  # number (1-based) of the message in this thread that this one answers
    subject: str | None = None  # default: thread subject, with the client's reply prefix for replies
    threading_headers: bool = True  # False: the client dropped In-Reply-To and References
    quote: bool = True  # quote the parent below the new text
    html: bool = False  # send multipart/alternative (text + HTML)
    kind: str = "mail"  # mail | html_only | autoreply | bounce | newsletter | daemon_forward
    attachments: tuple[Attachment, ...] = ()
    signature: bool = True
    ref: str | None = None  # bounce: key of the bounced message; daemon_forward: key of the forwarded one
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Thread:
    num: int
    title: str
    case: str
    subject: str
    lead: str | None
    messages: tuple[Msg, ...]
    notes: str = ""


def body(text: str) -> str:
    """Dedent a triple-quoted body; lines keep their hand-made wrapping (what you see is what is sent)."""
    return textwrap.dedent(text).strip("\n")


def other(note: str = "", lead: str | None = "thread") -> Expect:
    return Expect("other", note=note, lead=lead)


def skipped(why: str, note: str = "") -> Expect:
    return Expect(f"skipped: {why}", note=note, lead=None)


# ---------------------------------------------------------------------------------------------------------
# People

TEAM_SIG = "{name}\n{role}, 2i2c\nhttps://2i2c.org"
OPS_SIG = "Alex Moreno\nOperations Coordinator\nCode for Science & Society (fiscal sponsor of 2i2c)"

PEOPLE: dict[str, Person] = {
    # 2i2c team and the shared mailbox
    "sam": Person("Sam Rivera", "sam@2i2c.org", "America/Los_Angeles", "gmail",
                  TEAM_SIG.format(name="Sam Rivera", role="Partnerships Lead"), True, "team"),
    "priya": Person("Priya Natarajan", "priya@2i2c.org", "America/New_York", "gmail",
                    TEAM_SIG.format(name="Priya Natarajan", role="Director of Partnerships"), True, "team"),
    "jordan": Person("Jordan Lee", "jordan@2i2c.org", "Europe/London", "gmail",
                     TEAM_SIG.format(name="Jordan Lee (they/them)", role="Community Partnerships"), True, "team"),
    "partnerships": Person("", PARTNERSHIPS, role="team"),
    "ops": Person("CS&S Operations", OPERATIONS, "America/Los_Angeles", "gmail", OPS_SIG, False, "operations"),
    "daemon": Person("2i2c Partnerships", PARTNERSHIPS, "UTC", "system", role="system"),
    # lead contacts
    "elena": Person("Elena Marsh", "emarsh@westbrook.edu", "America/New_York", "gmail",
                    "Elena Marsh, PhD\nAssociate Professor, Earth and Environmental Sciences\n"
                    "Westbrook University"),
    "fiona": Person("Fiona MacLeod", "f.macleod@glenmoor.ac.uk", "Europe/London", "outlook",
                    "Dr Fiona MacLeod\nHead of Research Computing\nIT Services, University of Glenmoor"),
    "raymond": Person("Raymond Ortiz", "rortiz@pinecrest.edu", "America/Chicago", "outlook",
                      "Raymond Ortiz\nChair, Mathematics & Data Science\nPinecrest Community College"),
    "katrin": Person("Katrin Müller", "katrin.mueller@alpine-ecology.org", "Europe/Zurich", "thunderbird-de",
                     "Dr. Katrin Müller\nHead of Data Services\nInstitute for Alpine Ecology, Davos", True),
    "luis": Person("Luis Navarro", "lnavarro@sonoran-research.org", "America/Phoenix", "gmail",
                   "Luis Navarro, PhD\nPrincipal Investigator\nSonoran Desert Research Consortium"),
    "naomi": Person("Naomi Fischer", "nfischer@brightwater-health.org", "America/New_York", "gmail",
                    "Naomi Fischer, DrPH\nDirector of Research Computing\n"
                    "Brightwater Public Health Institute", True),
    "helen": Person("Helen Okafor", "h.okafor@eastlake.edu", "America/Chicago", "outlook",
                    "Helen Okafor\nProfessor and Chair, Department of Statistics\nEastlake University"),
    "evan": Person("Evan Wilson", "ewilson@northbay.edu", "America/Los_Angeles", "gmail",
                   "Evan Wilson\nResearch Scientist, Northbay Marine Laboratory", True),
    "evan_typo": Person("Evan Wilson", "ewilsen@northbay.edu", "America/Los_Angeles"),
    "maya": Person("Maya Thompson", "mthompson@cascadeclimate.org", "America/Los_Angeles", "outlook",
                   "Maya Thompson, PhD\nDirector of Data Science\nCascade Institute for Climate Research"),
    "anil": Person("Anil Mehta", "amehta@riverbend.edu", "America/Denver", "gmail",
                   "Anil Mehta\nAssociate Professor of Hydrology\nRiverbend University", True),
    "sofia": Person("Sofia Lindqvist", "sofia@oceandata-alliance.org", "Europe/Stockholm", "apple",
                    "Sofia Lindqvist\nProgram Manager, Open Ocean Data Alliance"),
    "jamal": Person("Jamal Carter", "jcarter@prairiestate.edu", "America/Chicago", "gmail",
                    "Jamal Carter, PhD\nDirector, Physics Education Research Group\nPrairie State University",
                    True),
    "grace": Person("Grace Liu", "gliu@bayside-genomics.org", "America/Los_Angeles", "gmail",
                    "Grace Liu, PhD\nTraining Program Director\nBayside Genomics Consortium"),
    "omar": Person("Omar Haddad", "ohaddad@summitstate.edu", "America/New_York", "outlook",
                   "Omar Haddad\nAssociate Professor of Neuroscience\nSummit State University"),
    "dana": Person("Dana Brooks", "dbrooks@redwoodcoast.edu", "America/Los_Angeles", "iphone"),
    "peter": Person("Peter Novak", "pnovak@lakeside.edu", "America/Chicago", "outlook",
                    "Peter Novak, PhD\nLimnology Lab, Department of Biology\nLakeside University"),
    "amara": Person("Amara Osei", "aosei@harborview-ocean.org", "America/New_York", "outlook",
                    "Dr. Amara Osei\nSenior Scientist, Ocean Modelling\nHarborview Institute of Oceanography"),
    "grants": Person("Osei, Amara (Grants Office)", "grants@harborview-ocean.org", "America/New_York",
                     "outlook"),
    "laura": Person("Laura Chen", "lchen@meadowlark.edu", "America/Chicago", "gmail",
                    "Laura Chen\nDigital Scholarship Librarian\nMeadowlark College Library"),
    "hannah": Person("Hannah Weiss", "hweiss@ironwood-institute.org", "America/New_York", "thunderbird",
                     "Hannah Weiss\nResearch Computing Lead\n"
                     "Ironwood Institute for Computational Linguistics", True),
    # automatic senders
    "mailer_daemon": Person("Mail Delivery Subsystem", "MAILER-DAEMON@googlemail.com", "America/Los_Angeles",
                            "system", role="system"),
    "stratus": Person("Stratus Cloud Billing", "billing-updates@stratuscloud.io", "America/Los_Angeles",
                      "bulk", role="system"),
    "rcc": Person("Research Computing Community Digest", "digest@lists.rcc-community.org",
                  "America/New_York", "bulk", role="system"),
    "rcc_list": Person("", "digest@lists.rcc-community.org", role="system"),
}

# ---------------------------------------------------------------------------------------------------------
# Leads: the table before the mailbox is replayed, plus the leads the mailbox creates (status "")

LEADS: dict[str, Lead] = {
    "pinecrest": Lead("Pinecrest Community College", "Active Lead", ("rortiz@pinecrest.edu",), "pinecrest.edu",
                      notes="Data science program, interested in Small tier for spring 2027"),
    "alpine": Lead("Institute for Alpine Ecology", "Active Lead", ("katrin.mueller@alpine-ecology.org",),
                   "alpine-ecology.org", notes="Field researchers; EU data residency required"),
    "sonoran": Lead("Sonoran Desert Research Consortium", "Active Lead", ("lnavarro@sonoran-research.org",),
                    "sonoran-research.org", notes="Field-methods course + sensor archive"),
    "brightwater": Lead("Brightwater Public Health Institute", "Active Lead",
                        ("nfischer@brightwater-health.org",), "brightwater-health.org",
                        notes="Epidemiology training program, said yes in principle in July"),
    "eastlake": Lead("Eastlake University Statistics", "Active Lead",
                     ("h.okafor@eastlake.edu", "stats-computing@eastlake.edu"), "eastlake.edu",
                     notes="R + Python teaching hub"),
    "northbay": Lead("Northbay Marine Laboratory", "Active Lead", ("ewilson@northbay.edu",), "northbay.edu",
                     notes="Comparing with a self-run campus hub"),
    "cascade": Lead("Cascade Institute for Climate Research", "Active Lead", ("mthompson@cascadeclimate.org",),
                    "cascadeclimate.org", notes="GPU workloads for downscaling models"),
    "riverbend": Lead("Riverbend University Hydrology Lab", "Active Service",
                      ("amehta@riverbend.edu", "hydrology-it@riverbend.edu"), "riverbend.edu", "medium",
                      "3000.00", True, "2026-03-01"),
    "openocean": Lead("Open Ocean Data Alliance", "Active Service", ("sofia@oceandata-alliance.org",),
                      "oceandata-alliance.org", "small", "1500.00", False, "2025-09-01",
                      "Runs in the Alliance's own cloud account"),
    "prairie": Lead("Prairie State University Physics Education", "Needs Admin", ("jcarter@prairiestate.edu",),
                    "prairiestate.edu", "small", "1500.00", True, "",
                    "Confirmed Small tier 2026-09-30, agreement sent by CS&S"),
    "bayside": Lead("Bayside Genomics Consortium", "Active Service", ("gliu@bayside-genomics.org",),
                    "bayside-genomics.org", "large", "6000.00", True, "2024-10-01", "NIH-funded training hub"),
    "summit": Lead("Summit State University Neuroscience", "Active Service", ("ohaddad@summitstate.edu",),
                   "summitstate.edu", "medium", "3000.00", True, "2025-08-01"),
    "redwood": Lead("Redwood Coast Community College", "Active Lead", ("dbrooks@redwoodcoast.edu",),
                    "redwoodcoast.edu", notes="Two intro programming sections, ~60 students/term"),
    "lakeside": Lead("Lakeside University Limnology Lab", "Active Lead", ("pnovak@lakeside.edu",),
                     "lakeside.edu", notes="~15 researchers + summer field school"),
    "harborview": Lead("Harborview Institute of Oceanography", "Active Lead", ("aosei@harborview-ocean.org",),
                       "harborview-ocean.org", notes="Ocean-modelling course + two research groups"),
    "ironwood": Lead("Ironwood Institute for Computational Linguistics", "Active Service",
                     ("hweiss@ironwood-institute.org",), "ironwood-institute.org", "medium", "3000.00", False,
                     "2026-01-01"),
    "granitepeak": Lead("Granite Peak Observatory", "Waiting", ("director@granitepeak-observatory.org",),
                        "granitepeak-observatory.org", notes="Waiting on state funding decision (January 2027)"),
    "oldmill": Lead("Old Mill Digital History Project", "Inactive Lead", ("m.hart@oldmill-history.org",),
                    "oldmill-history.org", notes="No reply since March 2026"),
    "coastalplains": Lead("Coastal Plains University Geography", "Inactive Service",
                          ("gis-lab@coastalplains.edu",), "coastalplains.edu", "small", "1500.00", False,
                          "2024-09-01", "Service ended 2026-06-30"),
    # created by the mailbox
    "westbrook": Lead("Westbrook University", "", ("emarsh@westbrook.edu",), "westbrook.edu"),
    "glenmoor": Lead("University of Glenmoor", "", ("f.macleod@glenmoor.ac.uk",), "glenmoor.ac.uk"),
    "meadowlark": Lead("Meadowlark College", "", ("lchen@meadowlark.edu",), "meadowlark.edu"),
}

# Double entry: the status every lead must have after the replay (checked against the actions below).
FINAL_STATUS: dict[str, str] = {
    "pinecrest": "Active Lead", "alpine": "Active Lead", "sonoran": "Waiting",
    "brightwater": "Inactive Lead", "eastlake": "Active Lead", "northbay": "Active Lead",
    "cascade": "Needs Admin", "riverbend": "Active Service", "openocean": "Active Service",
    "prairie": "Needs Admin", "bayside": "Inactive Service", "summit": "Active Service",
    "redwood": "Active Lead", "lakeside": "Active Lead", "harborview": "Active Lead",
    "ironwood": "Active Service", "granitepeak": "Waiting", "oldmill": "Inactive Lead",
    "coastalplains": "Inactive Service", "westbrook": "Needs Admin", "glenmoor": "Active Lead",
    "meadowlark": "Active Lead",
}

CONFIRMATION_NOTE = (
    "confirmation of a new service: {tier} tier, USD {price} per month; set up the administrative "
    "infrastructure (services agreement, billing)"
)
AGREEMENT_LINES = (
    "MANAGED JUPYTERHUB SERVICES AGREEMENT",
    "Code for Science & Society, fiscal sponsor of 2i2c,",
    "and Prairie State University (Physics Education Research Group)",
    "Service: Managed JupyterHub, Small tier, USD 1,500 per month",
    "Term: twelve months from the service start date",
)
WESTBROOK_SUBJECT = "Managed JupyterHub for our geoscience courses"
WESTBROOK_FORWARD_SUBJECT = f"[partnerships] Service confirmation: Westbrook University - Re: {WESTBROOK_SUBJECT}"

# ---------------------------------------------------------------------------------------------------------
# Threads

THREADS: tuple[Thread, ...] = (
    Thread(1, "Inbound first contact, then a confirmed tier", "case 1", WESTBROOK_SUBJECT, "westbrook", (
        Msg("elena", ("sam",), "2026-08-24 09:14:07", "asks about the managed hub service for her courses",
            Expect("first_contact", (CreateLead(),),
                   "new external thread cc'ing partnerships@, no lead for the address or the domain"),
            body("""\
                Dear Sam,

                I'm an associate professor in Earth and Environmental Sciences at
                Westbrook University. A colleague at another university pointed me to
                2i2c, and I'm writing to ask about your managed JupyterHub service.

                We teach about 300 undergraduates a year in our introductory geoscience
                sequence, plus two graduate courses in remote sensing that work with
                fairly large satellite datasets. For the last three years we have run
                The Littlest JupyterHub on a departmental server, but it struggles at
                the start of every lab session and our one IT person is stretched thin.

                Could you tell me more about how the service works, what it costs, and
                whether it could be ready for the spring semester (classes start on
                January 19)?

                Best regards,"""),
            cc=("partnerships",)),
        Msg("sam", ("elena",), "2026-08-25 11:02:45", "describes the service and the three tiers",
            other("sender role team; tier prices in a team message are not a confirmation"),
            body("""\
                Hi Elena,

                Thanks so much for reaching out, and for the context on your courses.

                2i2c runs managed JupyterHubs for research and education communities.
                We deploy and operate the hub on cloud infrastructure, handle upgrades,
                security and monitoring, and support your hub administrators. Your
                community stays in control: the configuration is open source and you
                can take it elsewhere at any time.

                The service comes in three tiers, depending on the size of your
                community and the support you need:

                - Small: $1,500 per month
                - Medium: $3,000 per month
                - Large: $6,000 per month

                Cloud costs are billed at cost on top of the tier fee, or the hub can
                run in a cloud account your university already has. Based on what you
                describe, the Medium tier is probably the right fit, but we can talk
                it through.

                A spring start is very doable if we hear from you by early November.
                Would a short call help?

                All the best,"""),
            cc=("partnerships",), reply_to=1),
        Msg("elena", ("sam",), "2026-08-27 15:40:12", "asks for a call; questions about login and memory",
            other("scheduling + questions"),
            body("""\
                Hi Sam,

                Thank you, this is very helpful. A call would be great. Would Tuesday,
                September 1 or Wednesday, September 2 in the afternoon (Eastern) work
                for you?

                Two quick questions in the meantime: can students log in with their
                Westbrook Google accounts, and is there a way to give the remote-sensing
                students more memory than the intro students?

                Thanks,
                Elena"""),
            cc=("partnerships",), reply_to=2, html=True, signature=False),
        Msg("sam", ("elena",), "2026-08-27 14:05:33", "books the call; answers login and memory questions",
            other("sender role team"),
            body("""\
                Hi Elena,

                Wednesday, September 2 at 1pm Eastern works well; I've sent a calendar
                invite with a video link.

                Yes to both: the hub can use Google sign-in restricted to westbrook.edu
                accounts, and we can set up separate server options so the
                remote-sensing course gets larger machines than the intro course.

                Talk soon,"""),
            cc=("partnerships",), reply_to=3),
        Msg("elena", ("sam",), "2026-09-15 10:42:18", "confirms the Medium tier at $3,000 per month",
            Expect("service_confirmation",
                   (SetStatus("Needs Admin"),
                    Forward("Service confirmation", CONFIRMATION_NOTE.format(tier="medium", price="3000.00"))),
                   "sender is the lead's contact (added when the lead was created); tier and price stated"),
            body("""\
                Hi Sam,

                Thanks again for the call and for the follow-up details. I've discussed
                it with our department chair and we'd like to go ahead with the Medium
                tier at $3,000 per month, starting in January for the spring semester.

                Please let me know what you need from us for the paperwork. Our grants
                administrator, Tom Becker, will be the contact for billing.

                Best,
                Elena"""),
            cc=("partnerships",), reply_to=4, html=True),
        Msg("sam", ("elena",), "2026-09-15 09:31:02", "thanks her; copies CS&S operations for the paperwork",
            other("sender role team; operations in Cc does not make it evidence"),
            body("""\
                Hi Elena,

                Wonderful news, thank you! I'm copying our operations team at Code for
                Science & Society, our fiscal sponsor. They'll send you the services
                agreement and set up billing with Tom.

                On our side, we'll open the request for your hub and get back to you
                about the technical setup in the next couple of weeks.

                Best,"""),
            cc=("partnerships", "ops"), reply_to=5),
    ), notes=(
        "The created lead's contact is emarsh@westbrook.edu (the external address of message 1). Tom Becker, "
        "named in message 5 as the billing contact, has no address in the thread and is not added.")),
    Thread(2, "Outbound first contact after a conference", "case 2",
           "Great to meet you at RSECon26 - managed JupyterHubs for Glenmoor", "glenmoor", (
        Msg("jordan", ("fiona",), "2026-09-10 16:20:11", "follows up on a conference chat; summarises the service",
            Expect("first_contact", (CreateLead(),),
                   "outbound: a team member writes to a new community, cc partnerships@; the lead is created "
                   "from the external recipient"),
            body("""\
                Hi Fiona,

                It was lovely to meet you at RSECon26 last week, and thanks for telling
                me about the teaching hubs your team runs for the School of Geosciences
                and the MSc in Data Science.

                As promised, here's a short summary of what 2i2c does. We run managed
                JupyterHubs for research and education communities: we deploy the hub
                on cloud infrastructure, keep it upgraded and secure, and support your
                hub administrators, while your community keeps full control of its
                configuration (it's all open source). Pricing is a monthly service fee
                (Small $1,500, Medium $3,000 or Large $6,000 per month, in USD) plus
                cloud costs at cost.

                I'd be happy to set up a call with one of our engineers to talk through
                your setup. Do you have any time in the next couple of weeks?

                Best wishes,"""),
            cc=("partnerships",)),
        Msg("fiona", ("jordan",), "2026-09-14 09:48:30", "asks about UK hosting, Entra ID sign-in, upgrade timing",
            other("questions"),
            body("""\
                Hi Jordan,

                Lovely to hear from you, and thanks for the summary. A few questions
                before we set up a call:

                1. Where would the hub be hosted? We need student data to stay in the UK.
                2. Could students sign in with our Microsoft Entra ID accounts?
                3. How are upgrades scheduled? We'd want to avoid changes during
                   teaching weeks.

                Many thanks,
                Fiona"""),
            cc=("partnerships",), reply_to=1),
        Msg("jordan", ("fiona",), "2026-09-14 14:12:09", "answers the questions; proposes a call",
            other("sender role team"),
            body("""\
                Hi Fiona,

                Great questions!

                1. We can run the hub in a London cloud region, so user data stays in
                   the UK.
                2. Yes, Entra ID works through its OpenID Connect support; we've set
                   this up for several universities.
                3. We agree a maintenance calendar with each community and avoid
                   upgrades during teaching weeks unless there's a security fix.

                How about a call on Tuesday 22 September at 2pm UK time?

                Best,"""),
            cc=("partnerships",), reply_to=2),
    )),
    Thread(3, "Tentative: hoping to confirm once the budget is approved", "case 3",
           "Checking in: JupyterHub for the spring data science courses", "pinecrest", (
        Msg("sam", ("raymond",), "2026-10-06 09:12:40", "checks in on the spring hub",
            other("sender role team"),
            body("""\
                Hi Raymond,

                I hope the semester is off to a good start. I wanted to check in on the
                hub for your data science courses. Last time we spoke you were
                considering the Small tier for the spring semester. Have you had a
                chance to discuss it with the dean's office?

                No rush; just let me know if any questions came up.

                Best,"""),
            cc=("partnerships",)),
        Msg("raymond", ("sam",), "2026-10-07 08:55:02",
            "hopes to confirm next month once the budget is approved; leaning to Small at $1,500",
            other("tentative: 'we hope to confirm next month' is not a decision, although the new text names "
                  "a tier and a price; not `waiting` either (no long deferral); no status change, no forward"),
            body("""\
                Hi Sam,

                Thanks for checking in. We're still very interested. We hope to confirm
                next month once the budget is approved by the dean's office; right now
                we're leaning towards the Small tier at $1,500 per month.

                I'll be in touch as soon as I hear back.

                Regards,
                Ray"""),
            cc=("partnerships",), reply_to=1),
    )),
    Thread(4, "Can't confirm yet", "case 4", "Following up: Medium tier for the Institute's hub", "alpine", (
        Msg("priya", ("katrin",), "2026-10-12 10:30:00", "asks whether they'd like to go ahead with Medium",
            other("sender role team; the confirmation question is ours"),
            body("""\
                Dear Katrin,

                Thank you again for the detailed notes from your team's workshop. Based
                on the number of field researchers you expect, I'd suggest the Medium
                tier at $3,000 per month, with the hub running in a European cloud
                region.

                Would you be able to confirm whether you'd like to go ahead with that?
                Happy to answer any remaining questions first.

                Best regards,"""),
            cc=("partnerships",)),
        Msg("katrin", ("priya",), "2026-10-14 17:46:21", "can't confirm the tier yet; IT must check data policy",
            other("negated: 'can't confirm', 'not able to commit'; short wait, not a waiting signal"),
            body("""\
                Dear Priya,

                Thank you for the proposal. I'm sorry, but I can't confirm the tier yet.
                Our IT department still has to check whether the hub may run in our own
                cloud account under the institute's data policy, and until they have
                answered we are not able to commit to anything.

                I expect to hear from them within two weeks and will write again then.

                Best regards,
                Katrin"""),
            cc=("partnerships",), reply_to=1),
        Msg("priya", ("katrin",), "2026-10-14 12:03:55", "thanks for the update",
            other("sender role team"),
            body("""\
                No problem at all, thanks for the update, Katrin. Talk in a couple of
                weeks!

                Priya"""),
            cc=("partnerships",), reply_to=2, signature=False),
    )),
    Thread(5, "Grant pending: revisit in the spring", "case 5", "Next steps for the Sonoran hub", "sonoran", (
        Msg("sam", ("luis",), "2026-10-20 10:05:12", "recaps the call; asks for next steps",
            other("sender role team"),
            body("""\
                Hi Luis,

                Thanks for the conversation last week about the field-methods course
                and your sensor archive. To recap, we talked about the Small tier
                ($1,500 per month) for the course, with the option to move to Medium
                once the research groups join.

                What would be the best next step on your side?

                Best,"""),
            cc=("partnerships",)),
        Msg("luis", ("sam",), "2026-10-22 13:37:45",
            "applied to NSF CyberTraining for $480,000; decision in spring; revisit then",
            Expect("waiting", (SetStatus("Waiting"),), "grant pending + 'revisit then'"),
            body("""\
                Hi Sam,

                Thanks for the recap. The honest answer is that we can't fund the hub
                from our current budget. We've applied to the NSF CyberTraining program
                for $480,000 over three years, and the proposal includes the hub costs.
                We expect a decision in the spring, probably in April.

                Could we revisit this then? We're still very keen to work with 2i2c.

                Cheers,
                Luis"""),
            cc=("partnerships",), reply_to=1),
        Msg("sam", ("luis",), "2026-10-22 14:10:05", "agrees to check back in April",
            other("sender role team"),
            body("""\
                Of course, and fingers crossed for the proposal! I'll check back in with
                you in April. If the decision comes earlier, just let me know.

                Sam"""),
            cc=("partnerships",), reply_to=2, signature=False),
    )),
    Thread(6, "Decline that quotes a confirmation", "case 6", "Confirming your hub service for 2027", "brightwater", (
        Msg("sam", ("naomi",), "2026-10-21 12:25:00",
            "quotes her July 'Yes, we would like to go ahead'; asks to confirm Medium at $3,000/month",
            other("sender role team; the quoted 'Yes, we would like to go ahead' is history, not new text"),
            body("""\
                Hi Naomi,

                Thanks for the call last week. When we first talked in July you wrote:

                > Yes, we would like to go ahead with a hub for the epidemiology
                > training program.

                To get things moving for January, could you confirm you'd like to go
                ahead with the Medium tier at $3,000/month? Once you confirm, I'll loop
                in our operations team for the agreement and billing.

                Best,"""),
            cc=("partnerships",)),
        Msg("naomi", ("sam",), "2026-10-26 09:03:12", "declines: not moving forward, no longer interested",
            Expect("decline", (SetStatus("Inactive Lead"),),
                   "the quoted history below contains the confirmation question and '> > Yes, we would like to "
                   "go ahead'; only the new text counts; no forward"),
            body("""\
                Hi Sam,

                Thank you for your patience and for all the time you've spent with us.
                After discussing it internally, we've decided not to move forward with
                the hosted hub: our university partner has offered us access to their
                JupyterHub at no cost for the training program, and we can't justify
                the expense right now.

                So we're no longer interested for now, but I really appreciate your
                help and may reach out again in the future.

                Best wishes,
                Naomi"""),
            cc=("partnerships",), reply_to=1),
        Msg("sam", ("naomi",), "2026-10-26 10:30:00", "thanks her; the door stays open",
            other("sender role team"),
            body("""\
                Thanks for letting us know, Naomi, and I completely understand. The
                door is always open; good luck with the program!

                Sam"""),
            cc=("partnerships",), reply_to=2, signature=False),
    )),
    Thread(7, "Out-of-office auto-reply that says 'confirm'", "case 7",
           "Next steps for the Eastlake statistics hub", "eastlake", (
        Msg("sam", ("helen",), "2026-10-12 13:40:22", "asks for times for a call with their IT team",
            other("sender role team"),
            body("""\
                Hi Helen,

                Following up on our conversation at the department seminar: I'd love to
                set up a call with you and your IT team to go over the technical
                requirements for the statistics hub (authentication, R and Python
                environments, and storage).

                Could you confirm a couple of times that would work in the next two
                weeks?

                Best,"""),
            cc=("partnerships",)),
        Msg("helen", ("partnerships",), "2026-10-12 15:40:51", "out of the office until October 19",
            skipped("auto-reply (Auto-Submitted: auto-replied, 'Automatic reply:' subject, out-of-office text)",
                    "the body says 'confirm'; it must neither change the status nor create a lead"),
            body("""\
                Thank you for your message. I am out of the office until Monday,
                October 19, with limited access to email.

                If you need me to confirm anything urgent about course computing,
                please contact our department manager, Lisa Grant (lgrant@eastlake.edu).
                Otherwise I will reply when I return.

                Helen Okafor"""),
            reply_to=1, subject="Automatic reply: Next steps for the Eastlake statistics hub", quote=False,
            kind="autoreply", signature=False),
        Msg("helen", ("sam",), "2026-10-20 08:15:10", "back from travel; proposes Thursday 2pm for the call",
            other("scheduling"),
            body("""\
                Hi Sam,

                Apologies for the slow reply; I was at a conference last week. Thursday,
                October 22 at 2pm Central would work for me and for Dev from our IT
                group. Would that suit you?

                Best,
                Helen"""),
            cc=("partnerships",), reply_to=1),
        Msg("sam", ("helen",), "2026-10-20 09:02:44", "accepts; sends the invite",
            other("sender role team"),
            body("""\
                Thursday at 2pm Central works. I've sent an invite to you and Dev.
                Talk then!

                Sam"""),
            cc=("partnerships",), reply_to=3, signature=False),
    )),
    Thread(8, "Bounce for a mistyped address", "case 8",
           "Following up on our call about the Northbay hub", "northbay", (
        Msg("jordan", ("evan_typo",), "2026-09-23 15:30:12", "follow-up sent to a mistyped address",
            other("lead matched by domain northbay.edu (ewilsen@ is not a listed contact); sender role team"),
            body("""\
                Hi Evan,

                Thanks for taking the time to talk on Monday. As promised, here is the
                overview of our managed hub service and the three tiers (Small $1,500,
                Medium $3,000 or Large $6,000 per month, plus cloud costs at cost):
                https://2i2c.org/service/

                Let me know if any questions come up as you compare options.

                Best,"""),
            cc=("partnerships",)),
        Msg("mailer_daemon", ("partnerships",), "2026-09-23 07:30:48",
            "delivery failed: 550 5.1.1 user unknown (ewilsen@northbay.edu)",
            skipped("bounce (multipart/report; report-type=delivery-status, from MAILER-DAEMON, Return-Path <>)",
                    "permanent failure 5.1.1; its In-Reply-To points at message 1 and the embedded original "
                    "cc's partnerships@, neither makes it a message of the lead"),
            "",
            reply_to=1, subject="Delivery Status Notification (Failure)", quote=False, kind="bounce",
            signature=False, ref="t08m1"),
        Msg("jordan", ("evan",), "2026-09-23 16:02:40", "resends the follow-up to the right address",
            other("new message, no In-Reply-To; joins the thread by subject + participants; sender role team"),
            body("""\
                Hi Evan,

                Resending, as I mistyped your address earlier today. Sorry about that!

                Thanks for taking the time to talk on Monday. As promised, here is the
                overview of our managed hub service and the three tiers (Small $1,500,
                Medium $3,000 or Large $6,000 per month, plus cloud costs at cost):
                https://2i2c.org/service/

                Let me know if any questions come up as you compare options.

                Best,"""),
            cc=("partnerships",)),
        Msg("evan", ("jordan",), "2026-09-24 10:11:00", "got it; still comparing with a campus-run hub",
            other("a body line starts with 'From ' and is stored as '>From ' in the mbox (mboxo escaping); "
                  "it is not quoted text"),
            body("""\
                Hi Jordan,

                Got it this time, thanks! We're still comparing this with running our
                own hub on campus.

                From what I can tell, our central IT would need several months to set
                up anything comparable, so a managed service is looking attractive.
                I'll get back to you after our lab meeting next week.

                Evan"""),
            cc=("partnerships",), reply_to=3),
    ), notes=(
        "Message 2 (DSN) quotes the whole of message 1 as message/rfc822, including its Cc: partnerships@; a "
        "daemon that parsed the embedded message as a message of its own would see a team email twice. "
        "Message 3 is a fresh send (no In-Reply-To) with the same subject and the corrected address.")),
    Thread(9, "HTML-only confirmation of the Large tier", "case 9",
           "Hub service proposal for the Cascade Institute", "cascade", (
        Msg("sam", ("maya",), "2026-10-05 10:20:30", "proposes the Large tier at $6,000 per month",
            other("sender role team"),
            body("""\
                Hi Maya,

                Thank you for walking us through the Institute's plans. Given the GPU
                workloads for the downscaling models and the number of research groups
                involved, we'd recommend the Large tier at $6,000 per month. That
                includes a dedicated cluster, GPU server options, priority support and
                a quarterly review with your team. Cloud costs would be billed at cost
                on top, or run through your own cloud account.

                If this looks right, just let us know and we'll start the paperwork
                with our operations team.

                Best,"""),
            cc=("partnerships",)),
        Msg("maya", ("sam",), "2026-10-08 16:45:09",
            "(text/html only) confirms the Large tier at $6,000 per month from December 1",
            Expect("service_confirmation",
                   (SetStatus("Needs Admin"),
                    Forward("Service confirmation", CONFIRMATION_NOTE.format(tier="large", price="6000.00"))),
                   "single text/html part, no text/plain: the text comes from the HTML; the quoted Outlook "
                   "block (divRplyFwdMsg) is history"),
            body("""\
                Hi Sam,

                Thanks for the proposal. Our leadership team reviewed it on Wednesday
                and approved it, so I'm happy to confirm that we would like to go ahead
                with the **Large tier at $6,000 per month**, starting December 1.

                Please send the services agreement to me and copy our finance office
                (finance@cascadeclimate.org).

                Best regards,
                Maya"""),
            cc=("partnerships",), reply_to=1, kind="html_only"),
        Msg("sam", ("maya",), "2026-10-08 17:02:11", "thanks her; operations will send the agreement",
            other("sender role team"),
            body("""\
                Fantastic, thank you Maya! I've passed this on to our operations team,
                who'll send the agreement to you and your finance office this week.

                Sam"""),
            cc=("partnerships",), reply_to=2, signature=False),
    )),
    Thread(10, "Team member forwards an external message to partnerships@ only", "case 10",
           "Fwd: Question about hosted JupyterHub", None, (
        Msg("sam", ("partnerships",), "2026-09-29 16:48:03",
            "forwards Rachel Kim's (Hillcrest College) request for a hub: 'I'll follow up'",
            other("only team addresses in From/To/Cc (the external person is inside the forwarded block): "
                  "no lead created, no action", lead=None),
            body("""\
                FYI — met them at the conference, I'll follow up.

                Sam

                ---------- Forwarded message ---------
                From: Rachel Kim <rkim@hillcrest.edu>
                Date: Mon, Sep 28, 2026 at 3:12 PM
                Subject: Question about hosted JupyterHub
                To: Sam Rivera <sam@2i2c.org>


                Hi Sam,

                It was great meeting you at the Cascadia research computing meetup on
                Friday. As I mentioned, we'd love to have a hub for our intro CS and
                data science courses starting next fall, ideally one that our two lab
                instructors can manage without a sysadmin.

                Could you send me some information about how the service works and
                what it costs?

                Thanks!
                Rachel

                --
                Rachel Kim
                Assistant Professor of Computer Science
                Hillcrest College"""),
            signature=False),
    )),
    Thread(11, "Monthly certification and affirmation (month named)", "case 11",
           "Certification of services for October 2026", "riverbend", (
        Msg("ops", ("anil",), "2026-11-02 09:05:00",
            "asks to confirm the October 2026 services were delivered as expected",
            other("sender role operations: asking for an affirmation is not one"),
            body("""\
                Dear Dr. Mehta,

                As part of our monthly invoicing for 2i2c's managed JupyterHub service,
                could you please confirm that the services for October 2026 were
                delivered as expected? A short reply to this email is all we need; once
                we have it we will send the invoice for October.

                Thank you,"""),
            cc=("partnerships",)),
        Msg("anil", ("ops",), "2026-11-02 11:20:44", "confirms the October services were delivered as expected",
            Expect("delivery_affirmation",
                   (Record("affirmation", "2026-10"),
                    Forward("Delivery affirmation",
                            "delivery affirmation for October 2026 (2026-10) from Anil Mehta")),
                   "'October' without a year: the year comes from the Date header"),
            body("""\
                Hi Alex,

                I confirm that the services for October were delivered as expected.
                Thanks!

                Anil"""),
            cc=("partnerships",), reply_to=1),
    )),
    Thread(12, "Affirmation that does not name its month", "case 12",
           "2i2c hub service: monthly certification", "openocean", (
        Msg("ops", ("sofia",), "2026-11-02 09:12:00",
            "asks to confirm the past month's services were delivered as expected (no month named)",
            other("sender role operations"),
            body("""\
                Dear Sofia,

                As part of our monthly invoicing for 2i2c's managed JupyterHub service,
                could you please confirm that the services over the past month were
                delivered as expected? A short reply to this email is enough.

                Thank you,"""),
            cc=("partnerships",)),
        Msg("sofia", ("ops",), "2026-11-03 08:40:31", "'Yes, all good — everything was delivered as expected'",
            Expect("delivery_affirmation",
                   (Record("affirmation", "2026-10, inferred from the reply date"),
                    Forward("Delivery affirmation",
                            "delivery affirmation for 2026-10; the reply names no month, so the month before "
                            "the reply date (2026-11-03) was taken, and the note says so")),
                   "neither the new text, the quote nor the subject names a month"),
            body("""\
                Yes, all good — everything was delivered as expected, thank you!

                Sofia"""),
            cc=("partnerships",), reply_to=1),
    )),
    Thread(13, "Signed contract as a PDF attachment", "case 13", "2i2c services agreement for signature", "prairie", (
        Msg("ops", ("jamal",), "2026-10-13 14:00:00", "sends the unsigned services agreement (PDF) for signature",
            other("sender role operations: an agreement PDF from operations is not the community's contract"),
            body("""\
                Dear Dr. Carter,

                Following your confirmation of the Small tier, please find attached the
                services agreement between Code for Science & Society (as fiscal
                sponsor of 2i2c) and Prairie State University. Once it has been signed
                by your authorised signatory, please send a copy back to us.

                Thank you,"""),
            cc=("partnerships",),
            attachments=(Attachment("2i2c-services-agreement.pdf", "2i2c services agreement",
                                    (*AGREEMENT_LINES, "Signature: ______________________")),)),
        Msg("jamal", ("ops",), "2026-10-19 10:22:37", "sends the signed services agreement (PDF attached)",
            Expect("contract",
                   (Record("contract", "2i2c-services-agreement-signed.pdf"),
                    Forward("Contract", "signed services agreement from Prairie State University Physics "
                                        "Education; the PDF 2i2c-services-agreement-signed.pdf is included")),
                   "no status change: the lead stays Needs Admin"),
            body("""\
                Hi Alex,

                Please find attached the signed services agreement. Our purchasing
                office will issue the PO next week.

                Best,
                Jamal"""),
            cc=("partnerships",), reply_to=1,
            attachments=(Attachment("2i2c-services-agreement-signed.pdf", "2i2c services agreement (signed)",
                                    (*AGREEMENT_LINES, "Signed: Jamal Carter, 2026-10-16",
                                     "Signed for Prairie State University: M. Alvarez, Purchasing")),)),
    )),
    Thread(14, "Internal team thread about pricing", "case 14", "Pricing for Glenmoor (internal)", None, (
        Msg("priya", ("jordan",), "2026-09-15 11:20:55",
            "suggests proposing Medium at $3,000/month to Glenmoor; asks Jordan to confirm details",
            other("team only (From/To/Cc all @2i2c.org): no lead, no action, even though it names a prospect, "
                  "a tier, a price and 'confirm'", lead=None),
            body("""\
                Hi Jordan,

                Before you get to pricing with Fiona at Glenmoor: with roughly 400
                students across the two programmes, I think we should propose the
                Medium tier at $3,000 per month rather than Small. Could you confirm
                whether the MSc course needs its own hub? If it does, we should talk
                about Large instead.

                Also, can you confirm they're fine with us managing the cloud billing?
                CS&S will need to know before we send anything.

                Thanks,
                Priya"""),
            cc=("partnerships",), signature=False),
        Msg("jordan", ("priya",), "2026-09-15 17:05:31", "agrees on Medium at $3,000/month; will confirm with Fiona",
            other("team only", lead=None),
            body("""\
                Agreed, Medium at $3,000/month sounds right. I'll confirm with Fiona on
                our call next Tuesday whether the MSc needs a separate hub, and ask
                about cloud billing. I'll report back here.

                J"""),
            cc=("partnerships",), reply_to=1, signature=False),
    )),
    Thread(15, "Newsletter: cloud provider billing update (Precedence: bulk)", "case 15",
           "Your billing update: committed-use discounts and new GPU pricing", None, (
        Msg("stratus", ("partnerships",), "2026-10-07 06:00:00", "monthly billing newsletter",
            skipped("bulk mail (Precedence: bulk)", "mentions 'confirm' and '$3,000 per month'"),
            body("""\
                Stratus Cloud | Billing update, October 2026

                Hello,

                Here's what's new for billing administrators this month.

                * Committed-use discounts now apply to GPU instances. A one-year
                  commitment of $3,000 per month or more qualifies for up to 28% off
                  on-demand prices.
                * Budget alerts can now be sent to several contacts per billing account.
                * Please confirm your billing contact details before November 30 to
                  keep receiving invoices by email.

                Manage your email preferences:
                https://console.stratuscloud.io/billing/preferences

                You received this email because you are a billing administrator of a
                Stratus Cloud account.
                Stratus Cloud, Inc., 500 Market Street, San Francisco, CA 94105"""),
            html=True, kind="newsletter", signature=False,
            headers=(("Precedence", "bulk"), ("X-Campaign-Id", "billing-2026-10"),
                     ("Feedback-ID", "billing-2026-10:stratuscloud"))),
    )),
    Thread(16, "Service ended: grant over, hub ends in December", "case 16",
           "Ending our hub service in December", "bayside", (
        Msg("grace", ("sam",), "2026-11-10 11:30:12", "grant ended; will end the hub service at the end of December",
            Expect("service_ended", (SetStatus("Inactive Service"),),
                   "the status moves now, although the hub runs until December 31; no forward"),
            body("""\
                Hi Sam,

                I'm sorry to write with this news. The NIH grant that funded our
                genomics training hub ended in September and we weren't able to secure
                bridge funding, so we will need to end the hub service at the end of
                December.

                Could you let us know how users can download their home directories
                before the hub is shut down? We'd like to give everyone at least a
                month's notice.

                Thank you for everything over the past two years; the hub has been
                wonderful for our trainees.

                Grace"""),
            cc=("partnerships",)),
        Msg("sam", ("grace",), "2026-11-10 14:02:00", "sorry to hear; hub runs through December 31; export help",
            other("sender role team"),
            body("""\
                Hi Grace,

                Thank you for letting us know, and I'm sorry about the funding. We'll
                keep the hub running through December 31, and I'll send instructions
                for exporting home directories this week so you can share them with
                your users.

                It's been a pleasure working with your team.

                Best,"""),
            cc=("partnerships",), reply_to=1),
    )),
    Thread(17, "Decline from an active service: not an allowed move", "case 17",
           "GPU add-on for the Summit State neuroscience hub", "summit", (
        Msg("priya", ("omar",), "2026-10-28 10:10:10", "proposes a GPU add-on at $800/month",
            other("sender role team"),
            body("""\
                Hi Omar,

                Following our quarterly check-in, here is the GPU add-on we discussed:
                a GPU node pool for the computational neuroscience course, available
                during lab hours, for an additional $800 per month plus the GPU cloud
                costs. It would sit alongside your current Medium tier service.

                Let me know what you think.

                Best,"""),
            cc=("partnerships",)),
        Msg("omar", ("priya",), "2026-10-30 15:22:48", "not interested in the GPU add-on; 'we'll pass'",
            Expect("decline",
                   (Review("decline would move Active Service -> Inactive Lead, which the transition table "
                           "does not allow"),),
                   "no status change; the lead stays Active Service"),
            body("""\
                Hi Priya,

                Thanks for putting this together. We discussed it in our lab meeting
                and we are not interested in the GPU add-on at this time; we'll pass
                for now. The current hub is working well for the course.

                Best,
                Omar"""),
            cc=("partnerships",), reply_to=1),
    )),
    Thread(18, "Low-confidence confirmation: 'Sounds good, let's do it!'", "case 18",
           "Small hub for Redwood Coast's intro programming courses", "redwood", (
        Msg("sam", ("dana",), "2026-11-03 10:45:00", "recommends the Small tier at $1,500 per month",
            other("sender role team"),
            body("""\
                Hi Dana,

                Thanks for the call yesterday. Based on what you described (about 60
                students per term across the two intro programming sections), I'd
                recommend the Small tier at $1,500 per month, with the hub ready before
                the spring term starts on January 20.

                Would that work for you?

                Best,"""),
            cc=("partnerships",)),
        Msg("dana", ("sam",), "2026-11-03 12:01:33", "'Sounds good, let's do it!' (from an iPhone)",
            Expect("service_confirmation",
                   (Review("weak service confirmation: the new text names no tier and no price (they are only "
                           "in the quoted offer)"),),
                   "low confidence: no status change and no forward until a person approves"),
            body("Sounds good, let's do it!"),
            cc=("partnerships",), reply_to=1, signature=False),
    )),
    Thread(19, "Threading fallback: client dropped In-Reply-To and References", "case 19",
           "Hub service for the Lakeside lab", "lakeside", (
        Msg("jordan", ("peter",), "2026-10-01 15:05:00", "suggests the Small tier; offers a call",
            other("sender role team"),
            body("""\
                Hi Peter,

                Thanks for your interest in a hub for the Lakeside limnology lab. For a
                lab of your size (about 15 researchers, plus students in the summer
                field school) the Small tier at $1,500 per month would likely cover it.

                Would you like to set up a call to go through the details?

                Best,"""),
            cc=("partnerships",)),
        Msg("peter", ("jordan",), "2026-10-02 09:20:10", "asks for a call Tuesday or Wednesday at 10am Central",
            other("scheduling"),
            body("""\
                Hi Jordan,

                Thanks, that would be helpful. I'm free most mornings next week; could
                we do Tuesday or Wednesday at 10am Central?

                Peter"""),
            cc=("partnerships",), reply_to=1),
        Msg("jordan", ("peter",), "2026-10-02 16:40:00", "books Tuesday, October 6 at 10am Central",
            other("sender role team"),
            body("""\
                Hi Peter,

                Tuesday, October 6 at 10am Central works. I'll send an invite.

                Best,"""),
            cc=("partnerships",), reply_to=2, subject="Re: Hub service for the Lakeside lab"),
        Msg("peter", ("jordan",), "2026-10-14 11:02:00",
            "question about default storage and a 500 GB shared directory (no In-Reply-To/References)",
            other("threads with message 3 by normalised subject ('RE: Re: ' stripped) + participants; "
                  "a question, not an intent"),
            body("""\
                Hi Jordan,

                Thanks again for the call last week. One question that came up with
                the team: how much storage does each user get by default, and could we
                have a shared directory of about 500 GB for the lab's lake sensor data?

                Thanks,
                Peter"""),
            cc=("partnerships",), reply_to=3, subject="RE: Re: Hub service for the Lakeside lab",
            threading_headers=False),
        Msg("jordan", ("peter",), "2026-10-14 18:15:00", "answers: 10 GB per user; shared 500 GB is possible",
            other("sender role team"),
            body("""\
                Hi Peter,

                Each user gets a 10 GB home directory by default, and we can set up a
                shared directory of 500 GB (or more) for the sensor data. Storage is
                billed at cloud cost, roughly $100 per month for 500 GB.

                Best,"""),
            cc=("partnerships",), reply_to=4),
    ), notes=(
        "Message 4 has no In-Reply-To or References and its subject gained an extra prefix. Normalising the "
        "subject (strip any run of `Re:`/`RE:`/`Fwd:` prefixes) and matching participants (pnovak@lakeside.edu, "
        "jordan@2i2c.org) puts it in this thread; it must not start a new thread, and even if it did, the lead "
        "would be the same (contact address). Message 5 answers it with proper headers.")),
    Thread(20, "Our own forward comes back; operations replies to it", "case 20",
           WESTBROOK_FORWARD_SUBJECT, None, (
        Msg("daemon", ("ops",), "2026-09-15 14:43:05", "copy of the daemon's forward of t01m5 (cc partnerships@)",
            skipped("own message (X-Partnerships-Daemon: forward, Message-ID @partnerships-daemon.invalid, "
                    "Auto-Submitted: auto-generated)",
                    "this copy is what the live daemon sent for t01m5; on a replay the daemon's own forward of "
                    "t01m5 is the one listed under thread 1, and this copy adds nothing"),
            body("""\
                Service confirmation received from Westbrook University.

                Lead:         Westbrook University (Active Lead -> Needs Admin)
                Confirmed by: Elena Marsh <emarsh@westbrook.edu>
                Date:         Tue, 15 Sep 2026 10:42:18 -0400
                Service:      Medium tier, USD 3000.00 per month

                This is confirmation of a new service: please set up the
                administrative infrastructure (services agreement and billing).
                The original message is attached."""),
            cc=("partnerships",), kind="daemon_forward", signature=False, ref="t01m5",
            headers=(("Auto-Submitted", "auto-generated"), ("X-Partnerships-Daemon", "forward"))),
        Msg("ops", ("partnerships",), "2026-09-16 10:17:40", "'Thanks, we'll set up the billing'",
            skipped("operations' internal reply to our forward", "operations is internal: no lead, no action"),
            body("""\
                Thanks, we'll set up the billing and send the services agreement to
                Dr. Marsh this week.

                Alex"""),
            reply_to=1),
    ), notes=(
        "A replay cannot tell that message 1 is a copy of a forward it would itself send: the forward the "
        "replaying daemon sends for t01m5 gets its own Message-ID, and this copy must not trigger a second one. "
        "Message 2 replies to message 1 (In-Reply-To `<t20m1...@partnerships-daemon.invalid>`).")),
    Thread(21, "Confirmation from a colleague who is not a listed contact", "case 21",
           "Harborview hub: Medium tier summary", "harborview", (
        Msg("priya", ("amara",), "2026-11-09 13:15:00", "summarises the Medium tier offer",
            other("sender role team"),
            body("""\
                Hi Amara,

                Thanks for the call on Friday. As discussed, here is the summary for the
                Harborview hub: the Medium tier at $3,000 per month, covering the
                ocean-modelling course and two research groups, with cloud costs billed
                at cost on top.

                Let me know if you have any questions, or if you'd like to go ahead.

                Best regards,"""),
            cc=("partnerships",)),
        Msg("grants", ("priya",), "2026-11-12 10:05:41",
            "grants@ (display name 'Osei, Amara (Grants Office)') confirms Medium at $3,000 per month",
            Expect("service_confirmation",
                   (Review("sender grants@harborview-ocean.org is not a known contact of the lead (lead matched "
                           "by domain; the display name imitates the contact's)"),),
                   "no status change and no forward until a person approves; DKIM/DMARC pass, so the only "
                   "reason is the unknown sender; approving also records grants@ as a contact"),
            body("""\
                Dear Priya,

                On behalf of Dr. Osei, I am writing to confirm that Harborview
                Institute of Oceanography would like to go ahead with the Medium tier
                at $3,000 per month, starting February 1, 2027.

                Please send the services agreement and all future invoices to this
                address.

                Kind regards,
                Marcus Bell
                Grants and Contracts Officer
                Harborview Institute of Oceanography"""),
            cc=("amara", "partnerships"), reply_to=1),
    )),
    Thread(22, "First contact addressed To partnerships@", "case 22",
           "Inquiry: hosted Jupyter for library workshops", "meadowlark", (
        Msg("laura", ("partnerships",), "2026-11-04 14:22:10", "asks whether the service suits library workshops",
            Expect("first_contact", (CreateLead(),), "partnerships@ in To (no Cc); no lead for the domain"),
            body("""\
                Hello,

                I'm the digital scholarship librarian at Meadowlark College. We run a
                series of data and text-analysis workshops for students and faculty,
                and we're looking for a hosted Jupyter environment so participants
                don't have to install anything.

                Is your managed hub service a fit for something like this (about 25
                workshops a year, up to 40 participants each)? And what would it cost?

                Thank you,"""),
            ),
        Msg("priya", ("laura",), "2026-11-05 09:40:00", "describes the service; suggests Small; offers a call",
            other("sender role team"),
            body("""\
                Hi Laura,

                Thanks for getting in touch! Workshops are a great fit for a managed
                hub: participants just log in through the browser. For 25 workshops a
                year the Small tier ($1,500 per month) is usually enough, plus cloud
                costs, which are modest when the hub is idle between workshops.

                Would you have time for a call next week to talk through your setup?

                Best,"""),
            cc=("partnerships",), reply_to=1),
    )),
    Thread(23, "Affirmation whose body contains template syntax", "case 23",
           "Certification of services for October 2026", "ironwood", (
        Msg("ops", ("hannah",), "2026-11-02 09:20:00",
            "asks to confirm the October 2026 services were delivered as expected",
            other("sender role operations"),
            body("""\
                Dear Dr. Weiss,

                As part of our monthly invoicing for 2i2c's managed JupyterHub service,
                could you please confirm that the services for October 2026 were
                delivered as expected? A short reply to this email is all we need; once
                we have it we will send the invoice for October.

                Thank you,"""),
            cc=("partnerships",)),
        Msg("hannah", ("ops",), "2026-11-04 16:12:05",
            "confirms October 2026; mentions raw `{{ 7*7 }}` and `{% for x in y %}` on the welcome page",
            Expect("delivery_affirmation",
                   (Record("affirmation", "2026-10"),
                    Forward("Delivery affirmation",
                            "delivery affirmation for October 2026 (2026-10) from Hannah Weiss; wherever the "
                            "note quotes the message it shows `{{ 7*7 }}` and `{% for x in y %}` literally "
                            "(never `49`, never a template error)")),
                   "email text is a template variable, never template source"),
            body("""\
                Hi Alex,

                I confirm that the services for October 2026 were delivered as
                expected, apart from one cosmetic glitch: since the last upgrade the
                hub's welcome page shows the raw template code {{ 7*7 }} and
                {% for x in y %} instead of the rendered text. Could someone on the
                engineering side take a look?

                Thanks,
                Hannah"""),
            cc=("partnerships",), reply_to=1),
    ), notes=(
        "Template safety: the forwarded note is rendered from a trusted template with the email text passed as "
        "a variable (Jinja2 sandbox, StrictUndefined); the text is never compiled as a template. The note "
        "quotes the message's new text, so the rendered note (and the .eml in the outbox) contains `{{ 7*7 }}` "
        "and `{% for x in y %}` exactly as sent.")),
    Thread(24, "Newsletter: research-computing digest (List-Id, List-Unsubscribe)", "case 15",
           "[RCC Digest] October 2026: JupyterHub at scale, GPU scheduling", None, (
        Msg("rcc", ("rcc_list",), "2026-10-15 08:00:00", "monthly community digest",
            skipped("mailing list (List-Id, List-Unsubscribe)",
                    "partnerships@ is a subscriber, not in To/Cc; mentions JupyterHub and pricing"),
            body("""\
                RESEARCH COMPUTING COMMUNITY DIGEST -- October 2026

                In this issue
                1. Running JupyterHub for 5,000 students: lessons from three campuses
                2. GPU scheduling on shared Kubernetes clusters
                3. Call for proposals: RCC virtual workshop, January 2027

                1. RUNNING JUPYTERHUB FOR 5,000 STUDENTS
                Three campuses compare self-hosted and managed hubs, including what
                they pay per month and how they confirm capacity before term starts.

                2. GPU SCHEDULING ON SHARED KUBERNETES CLUSTERS
                Notes from the September working-group call.

                3. CALL FOR PROPOSALS
                Submit a 300-word abstract by December 4.

                You are receiving this digest because you subscribed to rcc-digest.
                Unsubscribe: https://lists.rcc-community.org/unsubscribe/digest"""),
            kind="newsletter", signature=False,
            headers=(("List-Id", "Research Computing Community Digest <digest.lists.rcc-community.org>"),
                     ("List-Unsubscribe", "<mailto:digest-unsubscribe@lists.rcc-community.org>, "
                                          "<https://lists.rcc-community.org/unsubscribe/digest>"),
                     ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                     ("List-Archive", "<https://lists.rcc-community.org/archive/digest>"))),
    )),
    Thread(25, "Ordinary question from an active service", "extra",
           "Adding a second course to our hub", "riverbend", (
        Msg("anil", ("sam",), "2026-09-08 10:15:20", "asks whether adding a 45-student course changes anything",
            other("question"),
            body("""\
                Hi Sam,

                Quick question: we'd like to add our watershed modelling course (about
                45 students) to the hub this spring. Does that change anything for our
                service, and is there anything you need from us?

                Thanks,
                Anil"""),
            cc=("partnerships",), signature=False),
        Msg("sam", ("anil",), "2026-09-08 11:48:09", "fits within the Medium tier; asks for course details",
            other("sender role team"),
            body("""\
                Hi Anil,

                Great to hear! 45 more students fits comfortably within your current
                Medium tier, so nothing changes on the billing side. If you send me the
                course start date and the instructors' usernames, we'll add a server
                option with the packages they need.

                Best,"""),
            cc=("partnerships",), reply_to=1, html=True),
    )),
)

# ---------------------------------------------------------------------------------------------------------
# Small deterministic helpers

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def key_of(thread: Thread, index: int) -> str:
    return f"t{thread.num:02d}m{index}"


def message_id(key: str, domain: str) -> str:
    return f"<{key}.{digest(key)[:4]}@{domain}>"


def local_time(person: Person, at: str) -> datetime:
    dt = datetime.strptime(at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(person.tz))
    if dt.weekday() >= 5:
        raise ValueError(f"{at} is a weekend day")
    return dt


def hour12(dt: datetime) -> str:
    return f"{(dt.hour % 12) or 12}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def address(person: Person) -> Address:
    return Address(display_name=person.name, addr_spec=person.addr)


def display(person: Person) -> str:
    return f"{person.name} <{person.addr}>" if person.name else person.addr


def pdf_bytes(title: str, lines: tuple[str, ...]) -> bytes:
    """A small, structurally valid one-page PDF 1.4 (correct xref offsets), same bytes on every run."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 11 Tf 72 720 Td 16 TL\n" + "".join(f"({esc(line)}) '\n" for line in lines) + "ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
        f"<< /Title ({esc(title)}) /Producer (2i2c examples) /CreationDate (D:20261016120000Z) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{obj}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
              f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------------
# Building messages


@dataclass
class Built:
    """What later messages need from an earlier one."""

    key: str
    msg: Msg
    sender: Person
    date: datetime
    message_id: str
    references: tuple[str, ...]
    subject: str
    text: str  # full plain text as the recipient sees it (new text + signature + quote)
    sent: EmailMessage  # as sent by the client
    raw: bytes = b""  # as delivered to partnerships@ (trace headers + sent)
    arrival: datetime = field(default_factory=lambda: datetime.min)


def signed(msg: Msg, sender: Person, markup: bool = False) -> str:
    """New text + signature; `markup` keeps **bold** for the HTML rendering."""
    text = msg.body if markup else msg.body.replace("**", "")
    if msg.signature and sender.signature:
        text += "\n\n" + ("-- \n" if sender.sig_dash else "") + sender.signature
    if sender.client == "iphone":
        text += "\n\nSent from my iPhone"
    return text


def attribution(parent: Built, replier: Person, at: datetime) -> str:
    dt = parent.date.astimezone(at.tzinfo)
    name, addr = parent.sender.name or parent.sender.addr, parent.sender.addr
    month = MONTHS[dt.month - 1]
    if replier.client == "thunderbird-de":
        return f"Am {dt:%d.%m.%y} um {dt:%H:%M} schrieb {name}:"
    if replier.client == "thunderbird":
        return f"On {dt.month}/{dt.day}/{dt:%y} {hour12(dt)}, {name} wrote:"
    if replier.client == "apple":
        return f"On {dt.day} {month[:3]} {dt.year}, at {dt:%H:%M}, {name} <{addr}> wrote:"
    if replier.client == "iphone":
        return f"On {month[:3]} {dt.day}, {dt.year}, at {hour12(dt)}, {name} <{addr}> wrote:"
    return f"On {DAYS[dt.weekday()][:3]}, {month[:3]} {dt.day}, {dt.year} at {hour12(dt)} {name} <{addr}> wrote:"


def outlook_header(parent: Built, at: datetime) -> list[str]:
    dt = parent.date.astimezone(at.tzinfo)
    sent = f"{DAYS[dt.weekday()]}, {MONTHS[dt.month - 1]} {dt.day}, {dt.year} {hour12(dt)}"
    lines = [f"From: {display(parent.sender)}", f"Sent: {sent}",
             "To: " + "; ".join(display(PEOPLE[p]) for p in parent.msg.to)]
    if parent.msg.cc:
        lines.append("Cc: " + "; ".join(display(PEOPLE[p]) for p in parent.msg.cc))
    lines.append(f"Subject: {parent.subject}")
    return lines


def quoted(lines_of: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in lines_of.split("\n"))


def plain_text(new: str, parent: Built | None, sender: Person, at: datetime) -> str:
    if parent is None:
        return new
    if sender.client == "outlook":
        return (new + "\n\n________________________________\n" + "\n".join(outlook_header(parent, at))
                + "\n\n" + parent.text)
    if sender.client in ("apple", "iphone"):
        return new + "\n\n" + quoted(attribution(parent, sender, at) + "\n\n" + parent.text)
    return new + "\n\n" + attribution(parent, sender, at) + "\n" + quoted(parent.text)


def html_lines(text: str) -> str:
    """Plain text to HTML: lines that were wrapped (previous line >= 60 characters) rejoin their paragraph."""
    out: list[str] = []
    for line in text.split("\n"):
        if out and len(out[-1]) >= 60 and line and not line.startswith((">", "-", "*")):
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    escaped = html.escape("\n".join(out), quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped, flags=re.DOTALL)
    return "<br>\n".join(escaped.split("\n"))


def html_text(new: str, parent: Built | None, sender: Person, at: datetime) -> str:
    """The HTML alternative (Gmail markup) or the only part (Outlook markup) of a message."""
    if sender.client == "outlook":
        parts = [
            '<html><head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
            '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>\n'
            '</head>\n<body dir="ltr">\n'
            '<div style="font-family: Aptos, Calibri, Helvetica, sans-serif; font-size: 12pt; color: '
            'rgb(0, 0, 0);">\n' + html_lines(new) + "\n</div>\n"
        ]
        if parent is not None:
            header = "<br>\n".join(
                f"<b>{html.escape(line.split(': ', 1)[0])}:</b> {html.escape(line.split(': ', 1)[1])}"
                for line in outlook_header(parent, at))
            parts.append(
                '<div id="appendonsend"></div>\n<hr style="display:inline-block;width:98%" tabindex="-1">\n'
                '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
                f'color="#000000">{header}</font>\n<div>&nbsp;</div>\n</div>\n'
                f"<div>{html_lines(parent.text)}</div>\n")
        parts.append("</body>\n</html>\n")
        return "".join(parts)
    if sender.client == "bulk":
        return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n<body style="margin:0">\n'
                '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
                f'<td style="font-family:Arial,sans-serif;font-size:14px;padding:24px">{html_lines(new)}'
                "</td></tr></table>\n</body></html>\n")
    out = f'<div dir="ltr">{html_lines(new)}</div>\n'
    if parent is not None:
        out += (
            '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
            f"{html.escape(attribution(parent, sender, at))}<br></div>"
            '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
            f'rgb(204,204,204);padding-left:1ex">{html_lines(parent.text)}</blockquote></div>\n'
        )
    return out


def set_text(part: MIMEPart, text: str, subtype: str = "plain") -> None:
    ascii_only = text.isascii() and max(len(line) for line in text.split("\n")) <= 78
    part.set_content(text, subtype=subtype, charset="utf-8", cte="7bit" if ascii_only else "quoted-printable")


def tidy_parts(part: MIMEPart, key: str, path: str = "") -> None:
    """Give every multipart a boundary derived from the message key (the generator would pick a random one)
    and drop the MIME-Version header the email package puts on subparts. Embedded messages are left alone."""
    if part.get_content_maintype() != "multipart":
        return
    part.set_boundary(f"00000000000{digest(key, path)[:17]}")
    for index, sub in enumerate(part.iter_parts()):
        del sub["MIME-Version"]
        tidy_parts(sub, key, f"{path}.{index}")


def client_headers(msg: EmailMessage, sender: Person, thread: Thread, has_attachment: bool) -> None:
    if sender.client == "outlook":
        msg["Thread-Topic"] = thread.subject
        msg["Thread-Index"] = "AQH" + digest(thread.subject)[:28]
        msg["Accept-Language"] = "en-US"
        msg["Content-Language"] = "en-US"
        msg["X-MS-Has-Attach"] = "yes" if has_attachment else ""
    elif sender.client.startswith("thunderbird"):
        msg["User-Agent"] = "Mozilla Thunderbird"
        msg["Content-Language"] = "de-CH" if sender.client == "thunderbird-de" else "en-US"
    elif sender.client == "apple":
        msg["X-Mailer"] = "Apple Mail (2.3826.400.131.1.6)"
    elif sender.client == "iphone":
        msg["X-Mailer"] = "iPhone Mail (22H31)"


def reply_subject(thread: Thread, msg: Msg, sender: Person, parent: Built | None) -> str:
    if msg.subject is not None:
        return msg.subject
    if parent is None:
        return thread.subject
    if re.match(r"(?:re|aw):", parent.subject, flags=re.IGNORECASE):
        return parent.subject  # clients do not add a second prefix (t19m4 is the exception, set by hand)
    return ("RE: " if sender.client == "outlook" else "Re: ") + parent.subject


def build_bounce(msg: EmailMessage, original: Built, at: datetime) -> None:
    failed = original.msg.to[0]
    rcpt = PEOPLE[failed].addr
    human = MIMEPart(policy=POLICY)
    set_text(human, body(f"""\
        ** Address not found **

        Your message wasn't delivered to {rcpt} because the
        address couldn't be found, or is unable to receive mail.

        The response from the remote server was:
        550 5.1.1 <{rcpt}>: Recipient address rejected: User
        unknown in virtual mailbox table
        """) + "\n")
    arrival = format_datetime(original.date.astimezone(GOOGLE_TZ))
    status = message_from_string(
        "Content-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; googlemail.com\nArrival-Date: {arrival}\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n"
        "Remote-MTA: dns; mx1.northbay.edu. (198.51.100.41, the server for the domain northbay.edu.)\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual "
        f"mailbox table\nLast-Attempt-Date: {format_datetime(at)}\n",
        policy=POLICY)
    embedded = MIMEPart(policy=POLICY)
    embedded.set_content(copy.deepcopy(original.sent))
    msg["Content-Type"] = "multipart/report; report-type=delivery-status"
    for part in (human, status, embedded):
        msg.attach(part)


def build_message(thread: Thread, index: int, built: dict[str, Built]) -> Built:
    msg = thread.messages[index - 1]
    key = key_of(thread, index)
    sender = PEOPLE[msg.sender]
    at = local_time(sender, msg.at)
    parent = built[key_of(thread, msg.reply_to)] if msg.reply_to else None
    mid = message_id(key, DAEMON_DOMAIN if msg.kind == "daemon_forward" else sender.domain)
    subject = reply_subject(thread, msg, sender, parent)
    new = signed(msg, sender)
    text = plain_text(new, parent if msg.quote else None, sender, at)

    out = EmailMessage(policy=POLICY)
    out["From"] = address(sender)
    out["To"] = tuple(address(PEOPLE[p]) for p in msg.to)
    if msg.cc:
        out["Cc"] = tuple(address(PEOPLE[p]) for p in msg.cc)
    out["Subject"] = subject
    out["Date"] = format_datetime(at)
    out["Message-ID"] = mid
    references: tuple[str, ...] = ()
    if parent is not None and msg.threading_headers:
        references = (*parent.references, parent.message_id)
        out["In-Reply-To"] = parent.message_id
        out["References"] = " ".join(references)
    if msg.kind == "autoreply":
        out["Auto-Submitted"] = "auto-replied"
        out["X-Auto-Response-Suppress"] = "All"
    if msg.kind == "bounce":
        out["Auto-Submitted"] = "auto-replied"
    for name, value in msg.headers:
        out[name] = value
    client_headers(out, sender, thread, bool(msg.attachments))
    out["MIME-Version"] = "1.0"

    if msg.kind == "bounce":
        build_bounce(out, built[msg.ref], at)
    elif msg.kind == "html_only":
        set_text(out, html_text(signed(msg, sender, markup=True), parent, sender, at), "html")
    else:
        set_text(out, text)
        if msg.html:
            alternative = MIMEPart(policy=POLICY)
            set_text(alternative, html_text(signed(msg, sender, markup=True), parent if msg.quote else None,
                                            sender, at), "html")
            out.make_alternative()
            out.attach(alternative)
    for attachment in msg.attachments:
        out.add_attachment(pdf_bytes(attachment.title, attachment.lines), maintype="application",
                           subtype="pdf", filename=attachment.filename)
    if msg.kind == "daemon_forward":
        original = message_from_bytes(built[msg.ref].raw, policy=POLICY)
        out.add_attachment(original)
    tidy_parts(out, key)
    return Built(key, msg, sender, at, mid, references, subject, text, out)


def received_headers(item: Built) -> bytes:
    """Trace headers that partnerships@2i2c.org's server (Google) prepends on delivery."""
    sender, key = item.sender, item.key
    arrival = item.date + timedelta(seconds=2 + int(digest(key, "delay")[:2], 16) % 9)
    item.arrival = arrival
    stamp = arrival.astimezone(GOOGLE_TZ)
    ip = f"198.51.100.{int(digest(key, 'ip')[:2], 16) % 200 + 20}"
    host = "mail-sor-f41.google.com" if sender.client == "gmail" else f"mail-out.{sender.domain}"
    envelope = "" if item.msg.kind in ("autoreply", "bounce") else sender.addr
    trace = EmailMessage(policy=POLICY)
    trace["Delivered-To"] = PARTNERSHIPS
    trace["Return-Path"] = f"<{envelope}>"
    trace["Received"] = (f"from {host} ({host}. [{ip}]) by {AUTHSERV_ID} with ESMTPS id "
                         f"{digest(key, 'smtp')[:16]} for <{PARTNERSHIPS}> (version=TLS1_3 "
                         f"cipher=TLS_AES_256_GCM_SHA384 bits=256/256); {format_datetime(stamp)} "
                         f"({stamp.tzname()})")
    if item.msg.kind != "bounce":
        dmarc = "p=QUARANTINE sp=QUARANTINE dis=NONE" if sender.role != "external" else "p=NONE sp=NONE dis=NONE"
        trace["Authentication-Results"] = (
            f"{AUTHSERV_ID}; dkim=pass header.i=@{sender.domain} header.s=s{digest(sender.domain)[:4]} "
            f"header.b={digest(key, 'dkim')[:8]}; spf=pass ({AUTHSERV_ID.split('.', 1)[1]}: domain of "
            f"{envelope} designates {ip} as permitted sender) smtp.mailfrom={envelope}; "
            f"dmarc=pass ({dmarc}) header.from={sender.domain}")
    return trace.as_bytes().rstrip(b"\n") + b"\n"


def build_all() -> list[Built]:
    items = [(thread, index) for thread in THREADS for index in range(1, len(thread.messages) + 1)]
    # Build in time order so that bounces and forwards can embed the message they refer to.
    items.sort(key=lambda ti: local_time(PEOPLE[ti[0].messages[ti[1] - 1].sender], ti[0].messages[ti[1] - 1].at))
    built: dict[str, Built] = {}
    for thread, index in items:
        item = build_message(thread, index, built)
        item.raw = received_headers(item) + item.sent.as_bytes(policy=POLICY)
        built[item.key] = item
    return sorted(built.values(), key=lambda b: (b.arrival, b.key))


# ---------------------------------------------------------------------------------------------------------
# Checks, leads table and EXPECTED.md


def check(items: list[Built]) -> None:
    by_key = {item.key: item for item in items}
    ids = [item.message_id for item in items]
    assert len(ids) == len(set(ids)), "duplicate Message-ID"
    for thread in THREADS:
        for index, msg in enumerate(thread.messages, start=1):
            item = by_key[key_of(thread, index)]
            if msg.reply_to:
                parent = by_key[key_of(thread, msg.reply_to)]
                assert parent.arrival < item.date, f"{item.key} is older than the message it answers"
            if msg.kind in ("mail", "html_only") and PEOPLE[msg.sender].role != "system":
                addressed = {PEOPLE[p].addr for p in msg.to + msg.cc}
                assert PARTNERSHIPS in addressed, f"{item.key} does not reach partnerships@"
            for line in msg.body.split("\n"):
                assert len(line) <= 76, f"{item.key}: body line too long: {line!r}"
            parsed = message_from_bytes(item.raw, policy=POLICY)
            defects = [d for part in parsed.walk() for d in part.defects]
            assert not defects, f"{item.key}: {defects}"


def simulate() -> tuple[dict[str, str], dict[tuple[str, int], str]]:
    """Apply the expected actions in mailbox order; return final statuses and each move as text."""
    status = {key: lead.status for key, lead in LEADS.items()}
    moves: dict[tuple[str, int], str] = {}
    order = sorted(((local_time(PEOPLE[m.sender], m.at), t, i) for t in THREADS
                    for i, m in enumerate(t.messages, start=1)), key=lambda x: x[0])
    for _, thread, index in order:
        msg = thread.messages[index - 1]
        lead = lead_key(thread, msg)
        for position, action in enumerate(msg.expect.actions):
            if isinstance(action, CreateLead):
                assert lead and status[lead] == "", f"{lead} created twice or pre-exists"
                status[lead] = "Active Lead"
            elif isinstance(action, SetStatus):
                assert lead and status[lead] not in ("", action.new), f"no move for {lead}"
                moves[(key_of(thread, index), position)] = f"{status[lead]} -> {action.new}"
                status[lead] = action.new
    assert status == FINAL_STATUS, {k: (status[k], FINAL_STATUS.get(k)) for k in status
                                    if status[k] != FINAL_STATUS.get(k)}
    return status, moves


def lead_key(thread: Thread, msg: Msg) -> str | None:
    if msg.expect.intent.startswith("skipped"):
        return None
    return thread.lead if msg.expect.lead == "thread" else msg.expect.lead


def write_leads(path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "status", "contact_emails", "domain", "service_tier", "monthly_fee",
                     "cloud_billing_managed", "service_start", "notes"])
    for lead in LEADS.values():
        if lead.status:
            writer.writerow([lead.name, lead.status, ";".join(lead.contacts), lead.domain, lead.tier, lead.fee,
                             "true" if lead.cloud_billing_managed else "false", lead.service_start, lead.notes])
    path.write_text(out.getvalue(), encoding="utf-8")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def action_text(action: Action, lead: Lead | None, item: Built, move: str | None) -> str:
    if isinstance(action, CreateLead):
        assert lead is not None
        return (f'create lead "{lead.name}" as Active Lead (domain {lead.domain}, contacts '
                f'{", ".join(lead.contacts)})')
    if isinstance(action, SetStatus):
        return f"set status {move}"
    if isinstance(action, Forward):
        assert lead is not None
        return (f'forward to operations, subject "[partnerships] {action.what}: {lead.name} - {item.subject}", '
                f"note: {action.note}")
    if isinstance(action, Record):
        return f"record {action.what} ({action.detail})"
    return f"review item because {action.reason}"


def write_expected(path: Path, items: list[Built]) -> None:
    by_key = {item.key: item for item in items}
    final, moves = simulate()
    total = len(items)
    n_skipped = sum(1 for i in items if i.msg.expect.intent.startswith("skipped"))
    lines = [
        "# Example mailbox: what a correct daemon does",
        "",
        "<!-- Generated by examples/build_inbox.py together with inbox.mbox and leads.csv; edit the data in",
        "     that script and re-run it (python examples/build_inbox.py), not this file. -->",
        "",
        f"`inbox.mbox` holds {total} messages in {len(THREADS)} threads, in arrival order (August to November "
        f"2026). `leads.csv` is the leads table before the replay ({sum(1 for x in LEADS.values() if x.status)} "
        "leads). Replaying the mailbox against that table must give exactly the actions below.",
        "",
        "## Conventions",
        "",
        "- Team: Sam Rivera <sam@2i2c.org>, Priya Natarajan <priya@2i2c.org>, Jordan Lee <jordan@2i2c.org>;"
        " shared mailbox partnerships@2i2c.org; operations: \"CS&S Operations\" <operations@codeforsociety.org>"
        " (internal, sender role `operations`).",
        "- Tiers: small $1,500, medium $3,000, large $6,000 per month (USD).",
        f"- Every delivered message carries the trace headers of the receiving server: `Delivered-To`, "
        f"`Return-Path`, `Received` and `Authentication-Results: {AUTHSERV_ID}; dkim=pass ...; spf=pass ...; "
        f"dmarc=pass ...` (the DSN has none). The embedded demo (no config file) trusts `{AUTHSERV_ID}`, and so "
        "does examples/partnerships.toml; with it no sender below fails the check. A config file without "
        "[trust] trusts nobody: everything that acts then waits in review.",
        "- Automatic responses (the out-of-office reply and the DSN) are addressed to partnerships@2i2c.org: "
        "the team sends through the shared inbox, which is the envelope sender.",
        "- Leads are matched by contact address first, then by e-mail domain. A created lead's contacts are the"
        " external addresses of the first message; its name is the organisation (a daemon that cannot read it"
        " from the signature may use the domain; checks should match leads by domain).",
        "- Message keys `tNNmK` are thread NN, message K; the key is the first part of the Message-ID.",
        "- Intents: `first_contact`, `service_confirmation`, `delivery_affirmation`, `contract`, `waiting`, "
        "`decline`, `service_ended`, `other`, or `skipped: <why>` (dropped before classification).",
        "- Forwards go To operations@codeforsociety.org, Cc partnerships@2i2c.org, with the original attached, "
        "`Auto-Submitted: auto-generated`, `X-Partnerships-Daemon: forward` and a Message-ID "
        f"`<...@{DAEMON_DOMAIN}>`. The notes below say what each note must state, not its exact wording.",
        "- Message t08m4 has a body line starting with `From `; the mbox stores it as `>From ` (mboxo).",
        "- No lead is Needs Admin with a `service_start` date, so the date-driven Needs Admin -> Active Service "
        "move does not happen during a replay, whatever the current date.",
        "",
        "## Threads",
        "",
    ]
    for thread in THREADS:
        lead = LEADS[thread.lead] if thread.lead else None
        lead_name = f"{lead.name} (before: {lead.status or 'no lead'})" if lead else "no lead"
        lines += [f"### T{thread.num:02d}. {thread.title}", "",
                  f"Subject \"{thread.subject}\"; {thread.case}; lead: {lead_name}.", ""]
        lines += ["| # | Message-ID | From | Date | Gist | Intent | Lead | Actions |",
                  "|---|---|---|---|---|---|---|---|"]
        for index, msg in enumerate(thread.messages, start=1):
            item = by_key[key_of(thread, index)]
            key = lead_key(thread, msg)
            msg_lead = LEADS[key] if key else None
            actions = [action_text(a, msg_lead, item, moves.get((item.key, p)))
                       for p, a in enumerate(msg.expect.actions)] or ["none"]
            if msg.expect.note:
                actions.append(f"_({msg.expect.note})_")
            row = [str(index), f"`{item.message_id}`", display(item.sender), item.sent["Date"], msg.gist,
                   f"`{msg.expect.intent}`", msg_lead.name if msg_lead else "—", "; ".join(actions)]
            lines.append("| " + " | ".join(cell(c) for c in row) + " |")
        lines.append("")
        if thread.notes:
            lines += [thread.notes, ""]

    lines += ["## Final expected state", "", "### Lead statuses", "",
              "| Lead | Domain | Before (leads.csv) | After |", "|---|---|---|---|"]
    for key, lead in LEADS.items():
        before = lead.status or "—"
        after = final[key] + (" (created)" if not lead.status else "" if final[key] == lead.status
                              else " (changed)")
        lines.append(f"| {lead.name} | {lead.domain} | {before} | {after} |")
    lines += ["", "### Forwards to operations (exactly these, one each)", "",
              "| # | Original | Subject | Note must state |", "|---|---|---|---|"]
    count = 0
    reviews = []
    for item in items:
        key = lead_key(THREADS[int(item.key[1:3]) - 1], item.msg)
        for action in item.msg.expect.actions:
            if isinstance(action, Forward):
                count += 1
                subject = f"[partnerships] {action.what}: {LEADS[key].name} - {item.subject}"
                lines.append(f"| {count} | `{item.message_id}` | {cell(subject)} | {cell(action.note)} |")
            elif isinstance(action, Review):
                reviews.append(f"- `{item.message_id}` ({LEADS[key].name}): {action.reason}")
    lines += ["", "### Review items (no status change, no forward until approved)", "", *reviews, "",
              "### Everything else", "",
              f"- {n_skipped} messages are skipped (auto-reply, bounce, two newsletters, our own forward, "
              "operations' reply to it); no other message makes a status change, forward or review item.",
              "- Created leads: " + ", ".join(f"{LEADS[k].name} ({LEADS[k].domain})" for k in LEADS
                                              if not LEADS[k].status) + ".",
              "- No lead is created for Hillcrest College (T10, only inside a forwarded block), for the team-only "
              "thread (T14), or for any skipped message.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_mbox(path: Path, items: list[Built]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    box = mailbox.mbox(tmp, create=True)
    try:
        for item in items:
            envelope = "MAILER-DAEMON" if item.msg.kind in ("autoreply", "bounce") else item.sender.addr
            stamp = time.asctime(item.arrival.utctimetuple())
            box.add(f"From {envelope} {stamp}\n".encode() + item.raw)
        box.flush()
    finally:
        box.close()
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    items = build_all()
    check(items)
    write_mbox(outdir / "inbox.mbox", items)
    write_leads(outdir / "leads.csv")
    write_expected(outdir / "EXPECTED.md", items)
    print(f"wrote {len(items)} messages in {len(THREADS)} threads to {outdir / 'inbox.mbox'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
