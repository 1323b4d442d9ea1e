"""The organisation a sender states in their signature (or display name), which names a new lead: "Claire Dubois /
Collectif Données Sahel / Tél. ..." -> "Collectif Données Sahel" (pure).

Only the sender's own signature counts: the block under their sign-off or `--` line, or the last lines of what
they wrote from their name on; never a quoted or forwarded message's. A line names an organisation only when it
holds an organisation word (University, Instituto, Collectif, Lab, GmbH, ...) and reads like a name: no job title,
phone, address, link, quote, disclaimer, template syntax or control character, and not over-long. Anything
doubtful gives None, and the lead keeps the name of its domain."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from daemon.core.message import Message, signature_text
from daemon.core.sanitize import clean


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_NAME = 80  # characters; a longer "organisation" is a sentence or an attack
MAX_LINE = 200  # a longer signature line is not read at all
MAX_WORDS = 10
SIGNATURE_LINES = 12  # lines of a signature block read
TRAILING_LINES = 8  # lines at the end of the new text searched for the sender's name or sign-off

# Words that make a phrase an organisation (casefolded). "red" (Spanish: network) only as the first word.
ORGANISATION_WORDS = _words("""
university universities universidad universidade université universite universität universitat università
universitá universiteit uniwersytet univ. institute institutes instituto institut istituto institution college
colegio collège ecole école escuela escola school schools academy academia akademie académie hochschule
fachhochschule polytechnic politécnico politecnico lab labs laboratory laboratories laboratorio laboratório
laboratoire laboratorium labor foundation fundación fundacion fundação fundacao fondation fondazione stiftung
society sociedad sociedade société societe gesellschaft collective collectif colectivo coletivo kollektiv
cooperative cooperativa center centre centro zentrum centers centres consortium consorcio consórcio konsortium
network rede réseau reseau netzwerk project proyecto projeto projet projekt progetto observatory observatorio
observatório observatoire sternwarte museum museo musée museu library biblioteca bibliothèque bibliothek
hospital hôpital klinikum clinic council consejo conselho conseil association asociación asociacion
associação associacao associazione verein alliance alianza aliança coalition federation federación federação
initiative iniciativa ministry ministerio ministério government gobierno agency agencia agência company
corporation inc inc. incorporated ltd ltd. limited llc llc. plc gmbh ggmbh e.v. ag s.a. s.l. ltda ltda. corp
corp. commons
""")
LEGAL_FORMS = _words("inc inc. incorporated ltd ltd. limited llc llc. plc gmbh ggmbh e.v. ag s.a. s.l. ltda ltda. "
                     "corp corp.")
# "Enron Net Works, LLC": the comma before a legal form does not split the name.
_COMMA_LEGAL = re.compile(r",\s*(?=(?:Inc|LLC|Ltd|GmbH|gGmbH|e\.V|AG|S\.A|S\.L|Ltda|Corp|PLC|plc|Limited)\b)")
# German compounds: Forschungszentrum, Max-Planck-Institut, Musikhochschule.
ORGANISATION_SUFFIXES = ("zentrum", "institut", "universität", "hochschule", "stiftung", "gesellschaft", "verein",
                         "kollektiv", "labor", "akademie", "netzwerk", "bibliothek", "museum", "klinikum")
# A phrase with one of these is a person's role, not where they work ("Director of Research Computing").
TITLE_WORDS = _words("""
director directora directeur directrice direktor direktorin diretor diretora manager managerin head lead leader
chief officer president vice vp ceo cto cio cfo coo founder co-founder cofounder chair chairman chairperson
chairwoman dean provost professor prof prof. profesor profesora professeur professora professorin lecturer
researcher investigador investigadora pesquisador pesquisadora chercheur chercheuse forscher forscherin
scientist engineer ingeniero ingeniera ingénieur ingénieure ingenieur developer architect analyst administrator
admin coordinator coordinador coordinadora coordenador coordenadora coordinateur coordinatrice koordinator
koordinatorin specialist consultant advisor adviser assistant associate fellow postdoc postdoctoral student
phd candidate intern secretary treasurer librarian curator editor owner partner principal investigator pi staff
member representative liaison accountant bookkeeper responsable jefe jefa gerente leiter leiterin
geschäftsführer geschäftsführerin mitarbeiter mitarbeiterin doktorand doktorandin referent referentin chargé
chargée encargado encargada senior junior sr. jr. dr. dr mr. mrs. ms. phd. msc
""")
# Lower-case words an organisation's name may hold ("Universidad de los Andes", "Centre for the Study of").
CONNECTORS = _words("""
of the for and de del della delle dei di do da dos das des du la le les los las el y e et und für fur van von
der den zu zur zum am im an in en à au aux on at &
""")
SIGN_OFFS = _words("""
best thanks thank cheers regards sincerely saludos gracias grüße gruesse gruß cordialement merci atenciosamente
abraços obrigado obrigada cumprimentos greetings yours warmly ciao
""")
_SEPARATORS = re.compile(r"\s*(?:[|·•;/()\[\],]|\s[-–—]\s|\s{3,})\s*")  # \s{3,}: columns
_AT = re.compile(r"\s(?:at|@)\s")  # "Data Science Lead at Westbrook University", not "University at Buffalo"
_CONTACT_LABEL = re.compile(
    r"^(?:tel|tél|téléfono|telefone|telefon|teléfono|phone|ph|fon|fax|mobile|mob|móvil|cell|m|t|p|f|e|w|email|"
    r"e-mail|mail|web|website|site|skype|twitter|x|linkedin|orcid|pronouns)\b\s*[.:]", re.IGNORECASE)
_LINK = re.compile(r"@|://|\bwww\.|\b[a-z0-9-]+\.(?:[a-z]{2,})\b")
_HOSTILE = set("{}<>`$\\")  # template syntax ({{ }}, {% %}, ${ }), markup, escapes
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})  # controls, bidi overrides, unassigned
_QUOTES = set("\"“”„«»")  # not the apostrophe: King's College
_NOT_A_NAME = ("confidential", "privileged", "disclaimer", "intended recipient", "unsubscribe", "sent from",
               "get outlook", "virus", "please consider", "environment")
_ABBREVIATIONS = ("inc.", "ltd.", "co.", "corp.", "e.v.", "s.a.", "s.l.", "ltda.", "llc.", "plc.", "univ.")


def organisation(message: Message) -> str | None:
    """The organisation the sender states, as one clean line; None when they state none that is clearly one."""
    for block in _signature_blocks(message):
        found = _first_organisation(block)
        if found is not None:
            return found
    return _first_organisation(_pieces(message.from_name or ""))


def _signature_blocks(message: Message) -> Iterable[list[str]]:
    """The sender's signature lines: the block under the sign-off or `--`, then the end of the new text from the
    sender's name or sign-off on (a signature without a sign-off stays in the new text)."""
    signature = [line.strip() for line in signature_text(message.full_text).splitlines() if line.strip()]
    if signature:
        yield signature[:SIGNATURE_LINES]
    tail = [line.strip() for line in message.new_text.splitlines()[-TRAILING_LINES:]]
    anchors = [i for i, line in enumerate(tail) if _is_sign_off(line) or _names_sender(line, message.from_name)]
    for anchor in anchors:
        block = [line for line in tail[anchor:] if line]
        # The first anchor that starts the signature: nothing after it reads like a sentence of the message
        # (a greeting "Hi Sam," is followed by the message itself).
        if not any(_is_sentence(line) for line in block[1:]):
            yield block
            return


def _is_sign_off(line: str) -> bool:
    words = line.rstrip(",.!").split()
    if not words or len(words) > 4:
        return False
    return line.endswith(",") or any(word.casefold() in SIGN_OFFS for word in words)


def _names_sender(line: str, from_name: str) -> bool:
    wanted = [w.casefold() for w in re.findall(r"\w{2,}", from_name or "")]
    return bool(wanted) and all(w in [t.casefold() for t in re.findall(r"\w{2,}", line)] for w in wanted)


def _is_sentence(line: str) -> bool:
    return len(line) > MAX_LINE or (len(line.split()) > 6 and line.rstrip()[-1:] in ".!?")


def _pieces(line: str) -> list[str]:
    """A line split where signatures put several things on one ("Dr. Ana Ruiz | Research Computing, Universidad de
    Los Andes"); a line that is too long or hostile gives nothing."""
    line = line.replace("\u00a0", " ").replace("\t", " ")
    if len(line) > MAX_LINE or any(ch in _HOSTILE or ch in _QUOTES or unicodedata.category(ch) in _INVISIBLE
                                   for ch in line):
        return []  # a quotation's attribution ('..." Robert Wilensky, University of California') included
    pieces = []
    for piece in _SEPARATORS.split(_COMMA_LEGAL.sub(" ", line)):
        at = _AT.search(piece)
        if at and any(word.casefold() in TITLE_WORDS for word in piece[:at.start()].split()):
            piece = piece[at.end():]  # the role before "at" goes
        piece = piece.strip(" ,;:-–—*_")
        if piece:
            pieces.append(piece)
    return pieces


def _first_organisation(lines: Iterable[str]) -> str | None:
    for line in lines:
        for piece in _pieces(line) if line else []:
            if _is_organisation(piece):
                return clean(piece, MAX_NAME)
    return None


def _is_organisation(piece: str) -> bool:
    if not 2 <= len(piece) <= MAX_NAME or not piece[0].isalpha():
        return False
    lowered = piece.casefold()
    if (_CONTACT_LABEL.match(piece) or _LINK.search(lowered)
            or sum(ch.isdigit() for ch in piece) >= 3 or any(phrase in lowered for phrase in _NOT_A_NAME)
            or piece.endswith(("!", "?", ":")) or (piece.endswith(".") and not lowered.endswith(_ABBREVIATIONS))):
        return False
    words = piece.split()
    folded = [word.casefold() for word in words]
    if len(words) > MAX_WORDS or any(word in TITLE_WORDS for word in folded) or _mixed_scripts(words):
        return False
    # A name: every word capitalised (or holding a capital: "eScience") except the little connecting words.
    if any(word.islower() and word.casefold() not in CONNECTORS and not word.endswith(_ABBREVIATIONS)
           for word in words):
        return False
    if all(word in LEGAL_FORMS or word in CONNECTORS or word in ORGANISATION_WORDS for word in folded):
        return False  # "LLC" or "University" alone names no one
    return (any(word in ORGANISATION_WORDS for word in folded) or folded[0] == "red"
            or any(word.endswith(ORGANISATION_SUFFIXES) for word in folded))


def _mixed_scripts(words: list[str]) -> bool:
    """A word mixing alphabets ("Westbrооk" with Cyrillic o's) is made to look like another name."""
    for word in words:
        scripts = {unicodedata.name(ch, "?").split()[0] for ch in word if ch.isalpha()}
        if len(scripts) > 1:
            return True
    return False
