"""Build the labelled evaluation mail in eval/dev and eval/test and eval/labels.csv (deterministic: fixed seed).

Usage: python eval/build.py            (rewrites eval/dev/*.eml, eval/test/*.eml and eval/labels.csv)

Every message is written for this project from the templates below. The split rule is fixed and by
template, not by message: each template is marked "dev" or "test" where it is written, and the test
templates say the same things in other words than the dev ones (other verbs, idioms, registers), so the
test figures measure how far the classifier generalises beyond the phrasings it was tuned on. Never tune
on eval/test.

Each template is instantiated a few times with other communities, people, tiers, prices, months and mail
clients (Gmail / Outlook / Apple Mail / Thunderbird quoting, phone signatures, HTML-only), seeded so the
output is byte-identical on every run.
"""

from __future__ import annotations

import csv
import hashlib
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SEED = 14
TEAM = (("Jenny", "jenny@2i2c.org"), ("Sam", "sam@2i2c.org"), ("Aiko", "aiko@2i2c.org"))
PARTNERSHIPS = "partnerships@2i2c.org"
OPERATIONS = "operations@codeforsociety.org"

# (community, domain) per language: the sender's organisation.
ORGS = {
    "en": [("Westbrook University", "westbrook.edu"), ("Ocean Data Collective", "oceandata.org"),
           ("Hillside Community College", "hillside.edu"), ("Nairobi Climate Lab", "nclab.ac.ke"),
           ("Prairie Genomics Consortium", "prairiegenomics.org"), ("Open Rivers Project", "openrivers.net"),
           ("Kerala Data Science Society", "kdss.in"), ("Northfield Public Schools", "northfield.k12.us")],
    "es": [("Universidad de los Andes Australes", "uaa.edu.co"), ("Red Clima Latinoamericana", "redclima.org"),
           ("Instituto Océano Abierto", "oceanoabierto.mx")],
    "pt": [("Universidade Federal do Sertão", "ufsertao.edu.br"), ("Rede Amazônia Aberta", "amazoniaaberta.org.br"),
           ("Laboratório de Dados do Porto", "ldporto.pt")],
    "fr": [("Université des Alpes du Nord", "uan.fr"), ("Collectif Données Sahel", "donnees-sahel.org"),
           ("Laboratoire Océan Québec", "loq.qc.ca")],
    "de": [("Universität Nordheide", "uni-nordheide.de"), ("Klimadaten Kollektiv", "klimadaten.org"),
           ("Forschungszentrum Alpenrand", "fz-alpenrand.at")],
}
PEOPLE = {
    "en": ["Maria Chen", "David Okafor", "Priya Raman", "Tom Becker", "Lucy Nguyen", "Ahmed Salah", "Grace Kim"],
    "es": ["Lucía Fernández", "Mateo Rojas", "Camila Torres", "Andrés Gómez"],
    "pt": ["João Pereira", "Ana Souza", "Beatriz Lima", "Rafael Costa"],
    "fr": ["Claire Dubois", "Mamadou Diallo", "Julien Moreau", "Sophie Laurent"],
    "de": ["Katrin Müller", "Jonas Weber", "Lena Schmidt", "Felix Wagner"],
}
TIERS = {
    "en": ["Small", "Medium", "Large", "Essentials", "Standard", "Research", "Community", "Pro"],
    "es": ["Básico", "Estándar", "Investigación", "Mediano"],
    "pt": ["Básico", "Padrão", "Pesquisa", "Médio"],
    "fr": ["Essentiel", "Standard", "Recherche", "Moyen"],
    "de": ["Basis", "Standard", "Forschung", "Mittel"],
}
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"],
}
FEES = [Decimal(v) for v in ("1500", "2500", "3000", "3500", "4200", "6000", "1200", "2750.50", "12000")]


def _group(value: Decimal, sep: str) -> str:
    return f"{int(value):,}".replace(",", sep)


def _price_styles(lang: str) -> list[tuple[str, str]]:
    """(format key, currency): how people of this language write an amount."""
    return {
        "en": [("$A", "USD"), ("USD A", "USD"), ("A USD", "USD"), ("$K", "USD"), ("EUR A", "EUR"), ("£A", "GBP"),
               ("A dollars", "USD"), ("$A.00", "USD")],
        "es": [("A_DOT USD", "USD"), ("US$ A_DOT", "USD"), ("A_DOT,00 €", "EUR"), ("$A_DOT dólares", "USD"),
               ("A_DOT euros", "EUR")],
        "pt": [("R$ A_DOT,00", "BRL"), ("US$ A_DOT", "USD"), ("A_DOT euros", "EUR"), ("USD A_DOT,00", "USD")],
        "fr": [("A_SP €", "EUR"), ("A_SP,00 EUR", "EUR"), ("EUR A_SP", "EUR"), ("A_SP dollars", "USD"),
               ("K€", "EUR")],
        "de": [("A_DOT,00 €", "EUR"), ("EUR A_DOT", "EUR"), ("A_DOT Euro", "EUR"), ("USD A_DOT", "USD"),
               ("A_DOT CHF", "CHF")],
    }[lang]


def format_price(value: Decimal, style: str) -> str:
    """Write `value` in `style`: A = 3,000 (comma thousands), A_DOT = 3.000, A_SP = 3 000 (narrow space), K = 3k."""
    whole, cents = int(value), value - int(value)
    if "K" in style:
        if cents or whole % 100:
            style = style.replace("K", "A")
        else:
            k = f"{(value / 1000).normalize():f}"
            return style.replace("K", (k if "€" not in style else k.replace(".", ",")) + "k")
    if cents:
        decimals = f"{cents:.2f}"[2:]
        style = style.replace(",00", "").replace(".00", "")
        return (style.replace("A_DOT", _group(value, ".") + "," + decimals)
                .replace("A_SP", _group(value, "\u202f") + "," + decimals)
                .replace("A", f"{whole:,}.{decimals}"))
    return (style.replace("A_DOT", _group(value, ".")).replace("A_SP", _group(value, "\u202f"))
            .replace("A", f"{whole:,}"))


@dataclass(frozen=True)
class Template:
    key: str
    intent: str  # the label
    lang: str
    split: str  # dev | test
    subject: str
    body: str
    kind: str = ""  # hard negative kind, or a note on the voice
    sender: str = "contact"  # contact | team | operations
    attachment: tuple[str, str] | None = None  # (filename, content type)
    wrap: str = ""  # force a mail-client style: plain, gmail, outlook, apple, thunderbird, phone, html


def T(key: str, intent: str, lang: str, split: str, subject: str, body: str, **kw: object) -> Template:
    return Template(key, intent, lang, split, subject, body, **kw)  # type: ignore[arg-type]


C, A, K, W, D, E, F, O = (  # noqa: E741 - one letter per intent keeps the table readable
    "service_confirmation", "delivery_affirmation", "contract", "waiting", "decline", "service_ended",
    "first_contact", "other")

TEMPLATES: list[Template] = [
    # ---------------------------------------------------------------- service confirmation, English, dev
    T("conf-en-d1", C, "en", "dev", "Re: 2i2c hub proposal",
      "Hi {team},\n\nThanks for the call last week. We would like to go ahead with the {tier} tier at {price} "
      "per month. Please let us know what you need from us to get started.\n\nBest,\n{first}"),
    T("conf-en-d2", C, "en", "dev", "Re: Pricing for a managed JupyterHub",
      "Hello {team}, I'm happy to confirm that {org} will take the {tier} plan ({price}/month). Our finance "
      "office will send the paperwork."),
    T("conf-en-d3", C, "en", "dev", "Re: Offer",
      "great, lets do it. {tier} package, {price} a month works for us. start {start}?", wrap="phone"),
    T("conf-en-d4", C, "en", "dev", "Re: Next steps",
      "Dear {team},\n\nOn behalf of {org}, I am writing to formally confirm our subscription to the {tier} "
      "service tier at a monthly fee of {price}, with service beginning {start}.\n\nKind regards,\n{name}\n"
      "Director of Research Computing"),
    T("conf-en-d5", C, "en", "dev", "Re: hub for our course",
      "Hi! We talked with our dean and we are going to proceed with the {tier} option for {price} per month. "
      "Super excited!!"),
    T("conf-en-d6", C, "en", "dev", "Re: quote",
      "Dear Sir/Madam, we are agree to take {tier} tier with price {price} monthly. Please to start the "
      "service from {start}. Thank you very much."),
    T("conf-en-d7", C, "en", "dev", "Re: Proposal",
      "Our committee approved the budget, so count us in for the {tier} plan. {price} per month is fine."),
    T("conf-en-d8", C, "en", "dev", "Re: Hub options",
      "we woud like to procede with the {tier} plan at {price}/mo. thx"),
    # ---------------------------------------------------------------- service confirmation, English, test
    T("conf-en-t1", C, "en", "test", "Re: Your proposal for a hosted hub",
      "Hi {team},\n\nGood news: the board signed off and we're moving ahead with the {tier} plan at {price} "
      "per month. Looking forward to working together!\n\n{first}"),
    T("conf-en-t2", C, "en", "test", "Re: 2i2c service",
      "Please consider this email our acceptance of the {tier} tier ({price} monthly). We'd like the hub to be "
      "live by {start}."),
    T("conf-en-t3", C, "en", "test", "Re: options",
      "yes - we'll sign up for {tier}. {price}/month is within budget.", wrap="phone"),
    T("conf-en-t4", C, "en", "test", "Re: Managed hub quote",
      "Dear {team},\n\nFollowing internal review, I am pleased to inform you that {org} has selected the "
      "{tier} package at {price} per month. We would like the service to commence on {start}.\n\n"
      "Yours sincerely,\n{name}\nHead of IT Services"),
    T("conf-en-t5", C, "en", "test", "Re: pricing",
      "We're in! Going with {tier} at {price} a month. Can't wait to get our students on it."),
    T("conf-en-t6", C, "en", "test", "Re: follow up",
      "Hello, our decision is made: we go for the {tier} tier, {price} per month, starting {start}. "
      "Please send the invoice details.", kind="non-native"),
    T("conf-en-t7", C, "en", "test", "Re: Proposal",
      "Hi {team} - we'd love to get started with the {tier} plan ({price}/mo). Our selection committee "
      "chose 2i2c."),
    T("conf-en-t8", C, "en", "test", "Re: hub",
      "ok we commit to the {tier} tier at {price} per month, you can start setting things up"),
    # ---------------------------------------------------------------- service confirmation, other languages
    T("conf-es-d1", C, "es", "dev", "Re: Propuesta de servicio",
      "Hola {team},\n\nQueremos confirmar que vamos a contratar el plan {tier} por {price} al mes. "
      "¿Podemos empezar el {start}?\n\nSaludos,\n{first}"),
    T("conf-es-t1", C, "es", "test", "Re: Cotización del hub",
      "Estimado {team}: le informo que hemos decidido seguir adelante con el plan {tier}, con un costo "
      "mensual de {price}. Quedo atenta a los próximos pasos."),
    T("conf-pt-d1", C, "pt", "dev", "Re: Proposta",
      "Olá {team}, confirmamos a contratação do plano {tier} por {price} por mês. Podemos começar em {start}?"),
    T("conf-pt-t1", C, "pt", "test", "Re: Orçamento do hub",
      "Oi {team}! Decidimos fechar com vocês: plano {tier}, {price} mensais. Vamos em frente!"),
    T("conf-fr-d1", C, "fr", "dev", "Re: Proposition",
      "Bonjour {team},\n\nNous confirmons notre choix de la formule {tier} à {price} par mois. Le service "
      "pourrait démarrer le {start}.\n\nCordialement,\n{name}"),
    T("conf-fr-t1", C, "fr", "test", "Re: Devis hub",
      "Bonjour, c'est validé de notre côté : nous partons sur l'offre {tier} pour {price} mensuels. Merci !"),
    T("conf-de-d1", C, "de", "dev", "Re: Angebot",
      "Hallo {team},\n\nwir bestätigen hiermit die Buchung des Pakets {tier} zu {price} pro Monat. "
      "Start wäre der {start}.\n\nViele Grüße\n{name}"),
    T("conf-de-t1", C, "de", "test", "Re: Ihr Angebot",
      "Guten Tag {team}, wir haben uns für den Tarif {tier} entschieden ({price} monatlich) und möchten "
      "gerne loslegen."),
    # ---------------------------------------------------------------- delivery affirmation
    T("aff-en-d1", A, "en", "dev", "Re: Service certification for {month}",
      "Yes, I confirm the services for {month} were delivered as expected."),
    T("aff-en-d2", A, "en", "dev", "Monthly check-in",
      "Hi all, just to say the hub was provided as agreed throughout {month}, no complaints from our users."),
    T("aff-en-d3", A, "en", "dev", "Re: {month} services",
      "Confirmed - everything was delivered fine in {month}. thanks!", wrap="phone"),
    T("aff-en-d4", A, "en", "dev", "Re: Delivery confirmation",
      "Dear operations team, we certify that 2i2c delivered the managed hub service for {month} in "
      "accordance with our agreement.\n\nRegards,\n{name}"),
    T("aff-en-d5", A, "en", "dev", "Re: service for {month}",
      "We are satisfied with the services received in {month}. The hub ran smoothly.", kind="non-native"),
    T("aff-en-t1", A, "en", "test", "Re: Request: please certify {month}",
      "All good on our side - the hub did everything we needed during {month}. Happy to sign off."),
    T("aff-en-t2", A, "en", "test", "Re: {month} hub service",
      "Hi, I can attest that the {month} service met our expectations."),
    T("aff-en-t3", A, "en", "test", "monthly affirmation",
      "yep, {month} was fine, service rendered as promised", wrap="phone"),
    T("aff-en-t4", A, "en", "test", "Re: Certification of services",
      "Dear colleagues,\n\nThis is to affirm that the JupyterHub service for {month} was received in full and "
      "performed satisfactorily.\n\nBest regards,\n{name}\nProgram Manager"),
    T("aff-en-t5", A, "en", "test", "Re: {month}",
      "The service was deliver good in {month}, we have no problem, thank you.", kind="non-native"),
    T("aff-es-d1", A, "es", "dev", "Re: Certificación de servicios de {month}",
      "Confirmo que los servicios de {month} se prestaron según lo acordado."),
    T("aff-es-t1", A, "es", "test", "Re: Servicio de {month}",
      "Hola, todo bien con el hub durante {month}: el servicio se entregó sin inconvenientes."),
    T("aff-pt-d1", A, "pt", "dev", "Re: Certificação de {month}",
      "Confirmo que os serviços de {month} foram prestados conforme o combinado."),
    T("aff-pt-t1", A, "pt", "test", "Re: Serviço de {month}",
      "Tudo certo por aqui: o hub funcionou direitinho em {month} e o serviço foi entregue."),
    T("aff-fr-d1", A, "fr", "dev", "Re: Certification des services de {month}",
      "Je confirme que les services de {month} ont été fournis comme prévu."),
    T("aff-fr-t1", A, "fr", "test", "Re: Service de {month}",
      "Bonjour, je vous atteste que la prestation de {month} a bien été assurée. Rien à signaler."),
    T("aff-de-d1", A, "de", "dev", "Re: Bestätigung der Leistungen {month}",
      "Hiermit bestätige ich, dass die Leistungen für {month} wie vereinbart erbracht wurden."),
    T("aff-de-t1", A, "de", "test", "Re: Leistungen im {month}",
      "Alles bestens, der Hub lief im {month} einwandfrei und der Service wurde vollständig geliefert."),
    # ---------------------------------------------------------------- contract
    T("con-en-d1", K, "en", "dev", "Signed agreement",
      "Hi {team}, please find attached the signed service agreement. Best, {first}",
      attachment=("2i2c_Service_Agreement_signed.pdf", "application/pdf")),
    T("con-en-d2", K, "en", "dev", "Re: contract",
      "Attached is the executed contract.", attachment=("contract-executed.pdf", "application/octet-stream")),
    T("con-en-d3", K, "en", "dev", "Countersigned MSA",
      "Signed.", attachment=("MSA_{slug}_countersigned.pdf", "application/pdf"), wrap="phone"),
    T("con-en-d4", K, "en", "dev", "Re: Statement of work",
      "Dear {team},\n\nOur legal office has now signed the statement of work; a copy is attached for your "
      "records.\n\nRegards,\n{name}", attachment=("SOW-2i2c-{slug}.pdf", "application/pdf")),
    T("con-en-t1", K, "en", "test", "Fully executed agreement",
      "Here you go - the fully executed copy for your files.",
      attachment=("{slug}-2i2c-agreement-FINAL.pdf", "application/octet-stream")),
    T("con-en-t2", K, "en", "test", "Re: paperwork",
      "Our VP put her signature on it this morning, see attached.",
      attachment=("Hosting_Contract_{slug}.pdf", "application/pdf")),
    T("con-en-t3", K, "en", "test", "Signed contract", "see attached", wrap="phone",
      attachment=("scan_contract_signed.pdf", "application/octet-stream")),
    T("con-en-t4", K, "en", "test", "Re: Service agreement",
      "Dear {team}, the agreement bearing both signatures is enclosed. Kind regards, {name}",
      attachment=("Service-Agreement-{slug}.docx",
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
    T("con-es-d1", K, "es", "dev", "Contrato firmado",
      "Hola {team}, adjunto el contrato firmado. Saludos.", attachment=("contrato_firmado.pdf", "application/pdf")),
    T("con-es-t1", K, "es", "test", "Re: Convenio",
      "Les envío el convenio ya suscrito por nuestra rectora.",
      attachment=("Convenio_2i2c_{slug}.pdf", "application/octet-stream")),
    T("con-pt-d1", K, "pt", "dev", "Contrato assinado",
      "Segue em anexo o contrato assinado.", attachment=("contrato_assinado.pdf", "application/pdf")),
    T("con-pt-t1", K, "pt", "test", "Re: Acordo de serviço",
      "Oi {team}, o acordo já foi assinado pela reitoria, envio a cópia.",
      attachment=("Acordo_Servico_{slug}.pdf", "application/octet-stream")),
    T("con-fr-d1", K, "fr", "dev", "Contrat signé",
      "Bonjour, vous trouverez ci-joint le contrat signé.", attachment=("contrat_signe.pdf", "application/pdf")),
    T("con-fr-t1", K, "fr", "test", "Re: Convention de service",
      "Voici la convention revêtue de nos signatures.",
      attachment=("Convention_{slug}.pdf", "application/octet-stream")),
    T("con-de-d1", K, "de", "dev", "Unterschriebener Vertrag",
      "Anbei der unterschriebene Vertrag.", attachment=("Vertrag_unterschrieben.pdf", "application/pdf")),
    T("con-de-t1", K, "de", "test", "Re: Dienstleistungsvereinbarung",
      "Sehr geehrte Damen und Herren, die von beiden Seiten gezeichnete Vereinbarung finden Sie im Anhang.",
      attachment=("Vereinbarung_{slug}.pdf", "application/octet-stream")),
    # ---------------------------------------------------------------- waiting
    T("wait-en-d1", W, "en", "dev", "Re: Hub proposal",
      "We applied for an NSF grant to cover this; the decision is expected in {month}. Can we revisit then?"),
    T("wait-en-d2", W, "en", "dev", "Re: next steps",
      "Hi {team}, we need to put this on hold until our next budget year starts. I'll circle back in the "
      "spring."),
    T("wait-en-d3", W, "en", "dev", "Re: quote",
      "still waiting to hear back on funding, will let you know", wrap="phone"),
    T("wait-en-d4", W, "en", "dev", "Re: Proposal",
      "Dear {team}, unfortunately our procurement process takes time and we cannot proceed before {month}. "
      "Please keep our file open and contact us again then."),
    T("wait-en-d5", W, "en", "dev", "Re: pricing",
      "We are interesting but we must wait the answer of our grant, maybe in {month}.", kind="non-native"),
    T("wait-en-t1", W, "en", "test", "Re: Managed hub",
      "Hi {team}, our hands are tied until the foundation announces its awards. Let's pick this up again "
      "after that."),
    T("wait-en-t2", W, "en", "test", "Re: 2i2c offer",
      "Thanks for your patience. This is parked for now - the budget freeze runs until {month}."),
    T("wait-en-t3", W, "en", "test", "Re: follow-up",
      "ping me again in a couple of months, money isn't there yet", wrap="phone"),
    T("wait-en-t4", W, "en", "test", "Re: Proposal",
      "Dear {team},\n\nWe remain keen, however a final decision has been deferred to the next fiscal year. "
      "I will reach out once the funds are confirmed.\n\nSincerely,\n{name}"),
    T("wait-en-t5", W, "en", "test", "Re: hub",
      "Not now, but later. Our grant proposal is still under evaluation so we postpone the decision.",
      kind="non-native"),
    T("wait-es-d1", W, "es", "dev", "Re: Propuesta",
      "Estamos esperando la resolución de una beca; les escribimos de nuevo en {month}."),
    T("wait-es-t1", W, "es", "test", "Re: Hub gestionado",
      "Por ahora tenemos que posponerlo hasta que se apruebe el presupuesto del próximo año."),
    T("wait-pt-d1", W, "pt", "dev", "Re: Proposta",
      "Estamos aguardando o resultado do edital de financiamento. Podemos retomar em {month}?"),
    T("wait-pt-t1", W, "pt", "test", "Re: Hub",
      "Vamos deixar isso em espera por enquanto; o orçamento só sai no ano que vem."),
    T("wait-fr-d1", W, "fr", "dev", "Re: Proposition",
      "Nous attendons la réponse de notre demande de subvention. Pouvons-nous en reparler en {month} ?"),
    T("wait-fr-t1", W, "fr", "test", "Re: Devis",
      "Le projet est mis en pause jusqu'au vote du budget ; je reviendrai vers vous ensuite."),
    T("wait-de-d1", W, "de", "dev", "Re: Angebot",
      "Wir warten noch auf die Förderzusage. Können wir im {month} wieder sprechen?"),
    T("wait-de-t1", W, "de", "test", "Re: Hub",
      "Das Thema liegt vorerst auf Eis, bis der Haushalt für nächstes Jahr beschlossen ist. Ich melde mich dann."),
    # ---------------------------------------------------------------- decline
    T("dec-en-d1", D, "en", "dev", "Re: Hub proposal",
      "After a lot of discussion we have decided not to move forward this year. Thanks for your time."),
    T("dec-en-d2", D, "en", "dev", "Re: quote",
      "Hi {team}, we're going with another provider. Appreciate all the help!"),
    T("dec-en-d3", D, "en", "dev", "Re: offer", "no longer interested, sorry", wrap="phone"),
    T("dec-en-d4", D, "en", "dev", "Re: Proposal",
      "Dear {team},\n\nI regret to inform you that we must respectfully decline your proposal at this time.\n\n"
      "Regards,\n{name}"),
    T("dec-en-d5", D, "en", "dev", "Re: hub", "We decide to not continue with your proposal, is not the right fit "
      "for us.", kind="non-native"),
    T("dec-en-t1", D, "en", "test", "Re: 2i2c managed hub",
      "Thanks {team}, but we'll take a pass. Our IT department will host something in-house."),
    T("dec-en-t2", D, "en", "test", "Re: Pricing",
      "Unfortunately this is outside what we can afford, so we won't be pursuing it any further."),
    T("dec-en-t3", D, "en", "test", "Re: hub", "gonna say no for now, thanks tho", wrap="phone"),
    T("dec-en-t4", D, "en", "test", "Re: Proposal",
      "Dear {team},\n\nThank you for your proposal. After careful consideration, the committee has opted "
      "for a different solution and will not be engaging 2i2c.\n\nKind regards,\n{name}"),
    T("dec-en-t5", D, "en", "test", "Re: offer",
      "Our selection went to a other company, so we don't need your service. Sorry.", kind="non-native"),
    T("dec-es-d1", D, "es", "dev", "Re: Propuesta",
      "Gracias, pero hemos decidido no seguir adelante con la propuesta."),
    T("dec-es-t1", D, "es", "test", "Re: Cotización",
      "Lamentablemente optamos por otra solución y no contrataremos el servicio."),
    T("dec-pt-d1", D, "pt", "dev", "Re: Proposta",
      "Obrigada, mas decidimos não seguir em frente com a proposta."),
    T("dec-pt-t1", D, "pt", "test", "Re: Orçamento",
      "Infelizmente vamos recusar; escolhemos outro fornecedor."),
    T("dec-fr-d1", D, "fr", "dev", "Re: Proposition",
      "Merci, mais nous avons décidé de ne pas donner suite à votre proposition."),
    T("dec-fr-t1", D, "fr", "test", "Re: Devis",
      "Après réflexion, nous déclinons l'offre : nous avons retenu un autre prestataire."),
    T("dec-de-d1", D, "de", "dev", "Re: Angebot",
      "Vielen Dank, aber wir haben uns entschieden, das Angebot nicht anzunehmen."),
    T("dec-de-t1", D, "de", "test", "Re: Ihr Angebot",
      "Leider müssen wir absagen, wir haben uns für einen anderen Anbieter entschieden."),
    # ---------------------------------------------------------------- service ended
    T("end-en-d1", E, "en", "dev", "Ending our hub",
      "Our grant ended, so we will end our hub service at the end of {month}."),
    T("end-en-d2", E, "en", "dev", "Re: hub service",
      "Hi {team}, please cancel our subscription after this month. Thanks for everything."),
    T("end-en-d3", E, "en", "dev", "Re: service", "we'll shut down the hub end of {month}", wrap="phone"),
    T("end-en-d4", E, "en", "dev", "Termination of service",
      "Dear {team},\n\nThis letter serves as notice that {org} will discontinue the managed hub service "
      "effective {month} 30.\n\nRegards,\n{name}"),
    T("end-en-d5", E, "en", "dev", "stop service",
      "We want stop the service from next month because the project is finish.", kind="non-native"),
    T("end-en-t1", E, "en", "test", "Winding down",
      "Hi {team}, the course is over for good, so we'd like to wrap up the hub after {month}."),
    T("end-en-t2", E, "en", "test", "Re: hub renewal",
      "We will not be renewing. {month} will be our final month on the platform."),
    T("end-en-t3", E, "en", "test", "hub", "pls turn the hub off after this month, we're done", wrap="phone"),
    T("end-en-t4", E, "en", "test", "Notice of non-renewal",
      "Dear {team},\n\nPlease accept this as formal notice that we are terminating our agreement for the "
      "hosted JupyterHub at the end of the current term.\n\nSincerely,\n{name}"),
    T("end-en-t5", E, "en", "test", "Re: service",
      "Our project finish in {month} so after we don't use the hub anymore, please close it.",
      kind="non-native"),
    T("end-es-d1", E, "es", "dev", "Fin del servicio",
      "Queremos cancelar el servicio del hub a partir de {month}."),
    T("end-es-t1", E, "es", "test", "Re: Hub",
      "El proyecto terminó, así que daremos de baja el hub al final de este mes."),
    T("end-pt-d1", E, "pt", "dev", "Encerramento do serviço",
      "Gostaríamos de cancelar o serviço do hub a partir de {month}."),
    T("end-pt-t1", E, "pt", "test", "Re: Hub",
      "O projeto acabou; por favor desliguem o hub no fim do mês."),
    T("end-fr-d1", E, "fr", "dev", "Fin du service",
      "Nous souhaitons résilier le service du hub à la fin de {month}."),
    T("end-fr-t1", E, "fr", "test", "Re: Hub",
      "Le projet est terminé ; merci d'arrêter le hub à la fin du mois."),
    T("end-de-d1", E, "de", "dev", "Kündigung des Dienstes",
      "Hiermit kündigen wir den Hub-Service zum Ende {month}."),
    T("end-de-t1", E, "de", "test", "Re: Hub",
      "Unser Projekt ist abgeschlossen, bitte schalten Sie den Hub zum Monatsende ab."),
    # ---------------------------------------------------------------- first contact
    T("fc-en-d1", F, "en", "dev", "Managed JupyterHub for our course",
      "Hello,\n\nWe're interested in a managed JupyterHub for a data science course. Could you tell us more "
      "about pricing?\n\nThanks,\n{first}"),
    T("fc-en-d2", F, "en", "dev", "Question about 2i2c",
      "Hi there, a colleague pointed me to 2i2c. We'd like to learn more about your hub service for our lab."),
    T("fc-en-d3", F, "en", "dev", "hub?", "how much for a hub for ~50 students?", wrap="phone"),
    T("fc-en-t1", F, "en", "test", "Cloud notebooks for our research group",
      "Hi, our group of 30 researchers is looking for someone to run hosted Jupyter for us. Do you offer "
      "that, and what would it cost?"),
    T("fc-en-t2", F, "en", "test", "Inquiry",
      "Dear 2i2c team, I would be grateful for information on your services for universities.",
      kind="formal"),
    T("fc-en-t3", F, "en", "test", "hello", "saw your talk at JupyterCon, could we chat about a hub?",
      wrap="phone"),
    T("fc-es-d1", F, "es", "dev", "Consulta sobre JupyterHub",
      "Hola, estamos interesados en un JupyterHub gestionado para nuestra universidad. ¿Nos pueden dar "
      "más información?"),
    T("fc-es-t1", F, "es", "test", "Hub para un curso",
      "Buenas, quisiera saber cuánto cuesta su servicio de hub para unos 80 estudiantes."),
    T("fc-pt-d1", F, "pt", "dev", "Interesse em JupyterHub",
      "Olá, temos interesse em um JupyterHub gerenciado. Poderiam enviar mais informações?"),
    T("fc-pt-t1", F, "pt", "test", "Orçamento",
      "Bom dia, gostaria de saber o preço do serviço de vocês para nosso laboratório."),
    T("fc-fr-d1", F, "fr", "dev", "Demande d'information",
      "Bonjour, nous sommes intéressés par un JupyterHub géré. Pourriez-vous nous en dire plus ?"),
    T("fc-fr-t1", F, "fr", "test", "Hub pour notre labo",
      "Bonjour, combien coûterait votre service pour une équipe de vingt chercheurs ?"),
    T("fc-de-d1", F, "de", "dev", "Anfrage JupyterHub",
      "Guten Tag, wir interessieren uns für einen verwalteten JupyterHub. Können Sie uns mehr Informationen "
      "schicken?"),
    T("fc-de-t1", F, "de", "test", "Hub für Lehre",
      "Hallo, was würde Ihr Service für einen Kurs mit 60 Studierenden kosten?"),
    # ---------------------------------------------------------------- other (ordinary mail)
    T("oth-en-d1", O, "en", "dev", "Re: call", "Can we schedule a call next Tuesday?"),
    T("oth-en-d2", O, "en", "dev", "Re: hub access",
      "Hi, two of our students cannot log in since yesterday. Could you have a look?"),
    T("oth-en-d3", O, "en", "dev", "Re: thanks", "Thanks, got it!", wrap="phone"),
    T("oth-en-d4", O, "en", "dev", "Workshop slides",
      "Hi {team}, here are the slides from Tuesday's workshop, in case they are useful."),
    T("oth-en-t1", O, "en", "test", "Re: meeting",
      "Thursday 3pm works for me. Talk then."),
    T("oth-en-t2", O, "en", "test", "Re: storage",
      "Is there a way to increase home directory storage for a few users?"),
    T("oth-en-t3", O, "en", "test", "new admin",
      "FYI, Priya will be our new hub admin from next week, please add her."),
    T("oth-es-d1", O, "es", "dev", "Re: Reunión", "¿Podemos reunirnos el martes a las 10?"),
    T("oth-es-t1", O, "es", "test", "Re: Acceso", "Gracias por la ayuda, ya funciona todo."),
    T("oth-pt-d1", O, "pt", "dev", "Re: Reunião", "Podemos marcar uma reunião na quinta-feira?"),
    T("oth-pt-t1", O, "pt", "test", "Re: Acesso", "Valeu pela ajuda, já está tudo funcionando."),
    T("oth-fr-d1", O, "fr", "dev", "Re: Réunion", "Est-ce que mardi 14h vous convient pour un appel ?"),
    T("oth-fr-t1", O, "fr", "test", "Re: Accès", "Merci beaucoup, tout fonctionne maintenant."),
    T("oth-de-d1", O, "de", "dev", "Re: Termin", "Passt Ihnen Dienstag um 10 Uhr für ein kurzes Gespräch?"),
    T("oth-de-t1", O, "de", "test", "Re: Zugang", "Danke, jetzt funktioniert alles wieder."),
    # ---------------------------------------------------------------- hard negatives (all labelled other)
    T("neg-cond-en-d1", O, "en", "dev", "Re: Proposal",
      "If the board approves the budget, we would like to go ahead with the {tier} tier at {price} per month.",
      kind="conditional"),
    T("neg-cond-en-d2", O, "en", "dev", "Re: quote",
      "Assuming our grant comes through, we'd sign up for {tier}. Will know more soon.", kind="conditional"),
    T("neg-cond-en-t1", O, "en", "test", "Re: Offer",
      "Provided that the dean agrees, we'll move ahead with the {tier} plan ({price}/mo).", kind="conditional"),
    T("neg-cond-en-t2", O, "en", "test", "Re: hub",
      "Should our funding be renewed, we'd happily commit to the {tier} package.", kind="conditional"),
    T("neg-hedge-en-d1", O, "en", "dev", "Re: Proposal",
      "We might go with the {tier} tier, but we're still comparing options.", kind="hedged"),
    T("neg-hedge-en-d2", O, "en", "dev", "Re: pricing",
      "We are hoping to confirm the {tier} plan soon, probably next month.", kind="hedged"),
    T("neg-hedge-en-t1", O, "en", "test", "Re: Offer",
      "The {tier} package looks promising; we're leaning towards it, but nothing is decided.", kind="hedged"),
    T("neg-hedge-en-t2", O, "en", "test", "Re: hub",
      "Perhaps we could start with {tier} at {price} a month? Still need to check with finance.",
      kind="hedged"),
    T("neg-neg-en-d1", O, "en", "dev", "Re: Proposal",
      "I can't confirm the {tier} tier yet, our budget isn't approved.", kind="negated"),
    T("neg-neg-en-d2", O, "en", "dev", "Re: certification",
      "I cannot confirm that the services for {month} were delivered: the hub was down for a week.",
      kind="negated"),
    T("neg-neg-en-t1", O, "en", "test", "Re: Offer",
      "We are not in a position to accept the {tier} plan at this time.", kind="negated"),
    T("neg-neg-en-t2", O, "en", "test", "Re: {month} services",
      "I'm unable to sign off on {month}; there were repeated outages we need to discuss.", kind="negated"),
    T("neg-neg-en-t3", O, "en", "test", "Re: hub service",
      "To be clear, we are not ending the service - we just need a smaller machine.", kind="negated"),
    T("neg-q-en-d1", O, "en", "dev", "Re: Proposal",
      "Would it be possible to go ahead with the {tier} tier at a lower price?", kind="question"),
    T("neg-q-en-d2", O, "en", "dev", "Re: contract",
      "Do you need a signed contract from us, or is an email enough?", kind="question"),
    T("neg-q-en-t1", O, "en", "test", "Re: options",
      "What happens if we cancel the service in the middle of the year?", kind="question"),
    T("neg-q-en-t2", O, "en", "test", "Re: pricing",
      "Could we switch to the {tier} plan later on, and what would it cost?", kind="question"),
    T("neg-other-en-d1", O, "en", "dev", "Re: hub",
      "We just signed the contract with AWS for our storage, nothing to do with the hub.",
      kind="another service"),
    T("neg-other-en-t1", O, "en", "test", "Re: news",
      "FYI we've cancelled our Zoom subscription; please use the Teams link from now on.",
      kind="another service"),
    T("neg-other-en-t2", O, "en", "test", "Re: conference",
      "Good news, our paper was accepted at SciPy! We go ahead with the trip in July.",
      kind="another service"),
    T("neg-draft-en-d1", O, "en", "dev", "Draft agreement",
      "Here is the draft agreement for your review; we have not signed anything yet.",
      attachment=("agreement_DRAFT.docx",
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document"), kind="draft"),
    T("neg-draft-en-t1", O, "en", "test", "Contract comments",
      "Our lawyers marked up a few clauses, see the redline attached before anyone signs.",
      attachment=("contract_redline_v2.pdf", "application/pdf"), kind="draft"),
    T("neg-quote-en-d1", O, "en", "dev", "Re: Proposal",
      "Thanks, I'll share this with my team and get back to you.", kind="quoted", wrap="gmail_confirm"),
    T("neg-quote-en-t1", O, "en", "test", "Re: Offer",
      "Got it, forwarding to our finance people.", kind="quoted", wrap="outlook_confirm"),
    T("neg-team-en-d1", O, "en", "dev", "Re: Proposal",
      "Hi {first}, we confirm the {tier} tier at {price} per month as discussed. I'll send the agreement.",
      sender="team", kind="from the team"),
    T("neg-team-en-t1", O, "en", "test", "Re: your hub",
      "Great to hear you're going ahead with {tier}! Operations will reach out about set-up.",
      sender="team", kind="from the team"),
    T("neg-ops-en-d1", O, "en", "dev", "Certification of services for {month}",
      "Dear {first}, please confirm that the services for {month} were delivered as expected.",
      sender="operations", kind="from operations"),
    T("neg-ops-en-t1", O, "en", "test", "Re: new service",
      "Admin infrastructure for {org} is being set up; the service was approved internally.",
      sender="operations", kind="from operations"),
    T("neg-cond-es-d1", O, "es", "dev", "Re: Propuesta",
      "Si el consejo aprueba el presupuesto, contrataríamos el plan {tier}.", kind="conditional"),
    T("neg-neg-es-t1", O, "es", "test", "Re: Propuesta",
      "Todavía no podemos confirmar el plan {tier}; falta la aprobación.", kind="negated"),
    T("neg-q-pt-d1", O, "pt", "dev", "Re: Proposta",
      "Seria possível contratar o plano {tier} por um preço menor?", kind="question"),
    T("neg-hedge-pt-t1", O, "pt", "test", "Re: Proposta",
      "Talvez a gente feche o plano {tier}, mas ainda estamos avaliando.", kind="hedged"),
    T("neg-neg-fr-d1", O, "fr", "dev", "Re: Proposition",
      "Nous ne pouvons pas encore confirmer la formule {tier}.", kind="negated"),
    T("neg-cond-fr-t1", O, "fr", "test", "Re: Devis",
      "Si la subvention est accordée, nous prendrions l'offre {tier}.", kind="conditional"),
    T("neg-hedge-de-d1", O, "de", "dev", "Re: Angebot",
      "Vielleicht nehmen wir das Paket {tier}, aber wir vergleichen noch.", kind="hedged"),
    T("neg-neg-de-t1", O, "de", "test", "Re: Angebot",
      "Wir können das Paket {tier} leider noch nicht bestätigen.", kind="negated"),
]

# A second batch of dev templates (more paraphrases to tune on; eval/test stays untouched).
TEMPLATES += [
    T("conf-en-d9", C, "en", "dev", "Re: Hosting proposal",
      "Hi {team}, the steering group met yesterday and gave the go-ahead. We will purchase the {tier} tier "
      "({price} per month). Who should our finance office contact?"),
    T("conf-en-d10", C, "en", "dev", "Re: quote for the hub",
      "Thanks for the quote. Please book us in for the {tier} plan at {price}/month from {start}."),
    T("conf-en-d11", C, "en", "dev", "Re: 2i2c",
      "Deal! {tier} at {price} a month. Let's get this going.", wrap="phone"),
    T("conf-en-d12", C, "en", "dev", "Re: Service agreement terms",
      "Dear {team},\n\nI write to let you know that the university has agreed to the terms for the {tier} package "
      "at {price} per month. We look forward to a long partnership.\n\nBest regards,\n{name}"),
    T("conf-en-d13", C, "en", "dev", "Re: offer",
      "We have finalised our choice and would like to subscribe to {tier}, {price} monthly, starting {start}.",
      kind="non-native"),
    T("aff-en-d6", A, "en", "dev", "Re: Please confirm {month} services",
      "Yes, the {month} services were all provided. Thank you!"),
    T("aff-en-d7", A, "en", "dev", "Re: monthly certification",
      "Confirming that we received the hub service in {month} as per our agreement."),
    T("aff-en-d8", A, "en", "dev", "Re: Certification {month}",
      "Looks good to me - {month} is certified.", wrap="phone"),
    T("con-en-d5", K, "en", "dev", "Agreement - signed copy",
      "Attached, signed by our provost.", attachment=("2i2c-agreement-{slug}-signed.pdf", "application/pdf")),
    T("con-en-d6", K, "en", "dev", "Re: Master services agreement",
      "Hi {team}, our counsel has executed the MSA. PDF attached.",
      attachment=("MSA.pdf", "application/octet-stream")),
    T("wait-en-d6", W, "en", "dev", "Re: Hub pricing",
      "Hi {team}, we love the proposal but can't commit until our funding is renewed in {month}. Let's talk again "
      "then."),
    T("wait-en-d7", W, "en", "dev", "Re: Next steps",
      "Our budget for next year has not been approved yet, so we have to hold off for now."),
    T("wait-en-d8", W, "en", "dev", "Re: hub", "need to wait till the new fiscal year, sorry!", wrap="phone"),
    T("dec-en-d6", D, "en", "dev", "Re: Proposal",
      "Hi {team}, thanks for all the info. In the end we've chosen a different vendor for the hub."),
    T("dec-en-d7", D, "en", "dev", "Re: quote",
      "We've thought about it and won't be taking up the offer. Best of luck!"),
    T("dec-en-d8", D, "en", "dev", "Re: hub", "thanks but we're gonna pass on this one", wrap="phone"),
    T("end-en-d6", E, "en", "dev", "Re: hub renewal",
      "Hello {team}, we've decided to discontinue the hub when our current term ends in {month}."),
    T("end-en-d7", E, "en", "dev", "Service cancellation",
      "Please treat this as our cancellation notice for the JupyterHub service, effective end of {month}."),
    T("end-en-d8", E, "en", "dev", "hub", "we won't need the hub after this semester, please shut it down",
      wrap="phone"),
    T("fc-en-d4", F, "en", "dev", "JupyterHub for a workshop series",
      "Hello 2i2c, we run a workshop series and are exploring hosted JupyterHub options. What do you charge?"),
    T("oth-en-d5", O, "en", "dev", "Re: invoice", "Could you resend last month's invoice? Our system lost it."),
    T("oth-en-d6", O, "en", "dev", "Re: users", "I added 12 new users to the allow list, thanks for the tip."),
    T("neg-cond-en-d3", O, "en", "dev", "Re: Proposal",
      "Once the grant is awarded, we will sign up for the {tier} plan.", kind="conditional"),
    T("neg-hedge-en-d3", O, "en", "dev", "Re: pricing",
      "We're probably going to go with {tier}, but I need to double check with the dean first.", kind="hedged"),
    T("neg-neg-en-d3", O, "en", "dev", "Re: quote",
      "We haven't decided on the {tier} plan yet.", kind="negated"),
    T("neg-q-en-d3", O, "en", "dev", "Re: service",
      "Can we cancel the service at any time if the course is not renewed?", kind="question"),
    T("neg-other-en-d2", O, "en", "dev", "Re: update",
      "We renewed our Slack subscription for another year, in case you wondered why the invite changed.",
      kind="another service"),
    T("conf-es-d2", C, "es", "dev", "Re: Plan para el hub",
      "Buenas tardes {team}, le comunico que aceptamos la propuesta del plan {tier} a {price} mensuales."),
    T("conf-pt-d2", C, "pt", "dev", "Re: Plano do hub",
      "Oi {team}, pode seguir com o plano {tier} a {price} por mês. Está aprovado aqui."),
    T("conf-fr-d2", C, "fr", "dev", "Re: Offre hub",
      "Bonjour {team}, nous acceptons votre proposition pour la formule {tier} ({price} par mois)."),
    T("conf-de-d2", C, "de", "dev", "Re: Hub-Angebot",
      "Hallo {team}, wir nehmen Ihr Angebot für das Paket {tier} zu {price} pro Monat gerne an."),
    T("wait-es-d2", W, "es", "dev", "Re: Hub", "Hasta que no tengamos la financiación aprobada no podemos avanzar. "
      "Volvemos a hablar en {month}."),
    T("dec-fr-d2", D, "fr", "dev", "Re: Offre", "Merci, mais l'offre ne correspond pas à nos besoins ; nous "
      "déclinons."),
    T("end-de-d2", E, "de", "dev", "Re: Hub", "Wir möchten den Service zum {month} beenden, das Projekt läuft aus."),
    T("aff-pt-d2", A, "pt", "dev", "Re: Serviços de {month}", "Sim, os serviços de {month} foram entregues "
      "sem problemas."),
    T("neg-neg-es-d2", O, "es", "dev", "Re: Plan", "No vamos a contratar el plan {tier} todavía, falta el presupuesto.",
      kind="negated"),
]

# A third batch of dev templates: refusals, postponements, endings and agreements in yet other words.
TEMPLATES += [
    T("wait-en-d9", W, "en", "dev", "Re: Hub proposal",
      "Hi {team}, timing isn't right for us at the moment. Could we reconnect after the summer?"),
    T("wait-en-d10", W, "en", "dev", "Re: pricing",
      "We're not ready to commit yet; the department is still finalising next year's budget."),
    T("wait-en-d11", W, "en", "dev", "Re: offer",
      "Dear {team}, the grant review panel meets in {month}. We will get back to you after that decision."),
    T("wait-en-d12", W, "en", "dev", "Re: hub", "Let's hit pause on this until the new semester, thanks.",
      kind="chatty"),
    T("dec-en-d9", D, "en", "dev", "Re: Proposal",
      "Hi {team}, after reviewing options we will not be going ahead with a managed hub."),
    T("dec-en-d10", D, "en", "dev", "Re: quote",
      "Our university decided to use its own cluster instead, so we won't need the service."),
    T("dec-en-d11", D, "en", "dev", "Re: hub offer",
      "Dear {team}, I'm afraid the answer is no. The committee did not approve the purchase."),
    T("dec-en-d12", D, "en", "dev", "Re: proposal", "We dont want to continue with 2i2c, thank you for the time.",
      kind="non-native"),
    T("end-en-d9", E, "en", "dev", "Re: Hub",
      "Hi {team}, we'll stop using the hub at the end of term, so please plan to take it down in {month}."),
    T("end-en-d10", E, "en", "dev", "Re: renewal",
      "Our funding runs out in {month}, so the service will come to an end then."),
    T("end-en-d11", E, "en", "dev", "Closing our account",
      "Dear {team}, please close our hub and delete the user data after {month}. It has been a pleasure."),
    T("end-en-d12", E, "en", "dev", "Re: hub", "we r finished with the hub, can u switch it off. thx", wrap="phone"),
    T("conf-en-d14", C, "en", "dev", "Re: Proposal for a hub",
      "Hi {team}, we're excited to start with the {tier} plan at {price} per month. What do you need from us?"),
    T("conf-en-d15", C, "en", "dev", "Re: pricing",
      "Dear {team}, the committee has chosen 2i2c. Please set us up on the {tier} tier ({price}/month)."),
    T("conf-en-d16", C, "en", "dev", "Re: hub", "yes please, {tier} at {price}/mo. when can we start?", wrap="phone"),
    T("fc-en-d5", F, "en", "dev", "Hosted notebooks?",
      "Hi, do you provide hosted Jupyter for small nonprofits? We'd love a price estimate."),
    T("wait-es-d3", W, "es", "dev", "Re: Propuesta", "De momento no es posible; lo retomamos el próximo semestre."),
    T("wait-pt-d2", W, "pt", "dev", "Re: Proposta",
      "Ainda não temos verba; podemos conversar de novo depois de {month}?"),
    T("wait-fr-d2", W, "fr", "dev", "Re: Devis", "Nous devons attendre la fin de l'appel à projets avant de décider."),
    T("wait-de-d2", W, "de", "dev", "Re: Angebot",
      "Wir müssen die Entscheidung leider auf das nächste Semester verschieben."),
    T("dec-es-d2", D, "es", "dev", "Re: Propuesta",
      "Gracias, pero no vamos a contratar el servicio; usaremos una solución interna."),
    T("dec-pt-d2", D, "pt", "dev", "Re: Proposta", "Agradecemos, mas não vamos contratar o serviço de vocês."),
    T("dec-de-d2", D, "de", "dev", "Re: Angebot", "Danke, aber wir werden das Angebot nicht wahrnehmen."),
    T("end-es-d2", E, "es", "dev", "Re: Hub", "Ya no necesitamos el hub; por favor dénlo de baja después de {month}."),
    T("end-pt-d2", E, "pt", "dev", "Re: Hub", "Vamos encerrar o uso do hub em {month}, obrigado por tudo."),
    T("end-fr-d2", E, "fr", "dev", "Re: Hub", "Nous n'aurons plus besoin du hub après {month} ; merci de le fermer."),
    T("conf-es-d3", C, "es", "dev", "Re: Hub", "¡Listo! Vamos con el plan {tier} a {price} por mes."),
    T("conf-fr-d3", C, "fr", "dev", "Re: Hub",
      "C'est d'accord pour la formule {tier} à {price} par mois, on commence quand ?"),
    T("neg-hedge-en-d4", O, "en", "dev", "Re: hub", "We'll likely end the service next year, but nothing is decided.",
      kind="hedged"),
    T("neg-q-en-d4", O, "en", "dev", "Re: plans", "Should we pause the hub over the summer, or is that a hassle?",
      kind="question"),
    T("neg-neg-en-d4", O, "en", "dev", "Re: hub", "We're definitely not cancelling - the students love it!",
      kind="negated"),
]

# A fourth batch of dev templates: more registers and more of the other languages.
TEMPLATES += [
    T("conf-en-d17", C, "en", "dev", "Re: Hub for the lab",
      "Hi {team}, you've convinced us - sign us up for {tier} ({price}/month). Invoice to the address below."),
    T("conf-en-d18", C, "en", "dev", "Re: Proposal",
      "Dear {team}, I am authorised to accept the proposal for the {tier} service level at {price} per month."),
    T("conf-en-d19", C, "en", "dev", "Re: quote", "ok going ahead w/ {tier}, {price} pm. send contract pls",
      wrap="phone"),
    T("wait-en-d13", W, "en", "dev", "Re: Proposal",
      "Dear {team}, our leadership has asked us to revisit all new spending in the new year. We'll be in touch "
      "then."),
    T("wait-en-d14", W, "en", "dev", "Re: quote", "The funding decision has been delayed to {month}; until then we "
      "can't sign anything."),
    T("dec-en-d13", D, "en", "dev", "Re: 2i2c", "Hi {team}, I'm sorry to say we won't be moving ahead. The budget "
      "went to other priorities."),
    T("dec-en-d14", D, "en", "dev", "Re: proposal", "Dear {team}, we have concluded that the managed hub is not a "
      "match for our needs and will not proceed."),
    T("end-en-d13", E, "en", "dev", "Re: hub", "Hi {team}, this is to let you know we're ending our subscription "
      "at the close of {month}."),
    T("end-en-d14", E, "en", "dev", "Hub decommission", "Our lab is closing, so the hub can be decommissioned "
      "after {month}."),
    T("fc-en-d6", F, "en", "dev", "Request for a proposal",
      "Good afternoon, our consortium would like to receive a proposal for a managed JupyterHub."),
    T("conf-es-d4", C, "es", "dev", "Re: Oferta", "Estimado {team}: aprobamos la contratación del plan {tier} "
      "({price} mensuales) a partir del {start}."),
    T("wait-es-d4", W, "es", "dev", "Re: Oferta", "Por el momento debemos esperar la aprobación del presupuesto; "
      "les contactaremos más adelante."),
    T("dec-es-d3", D, "es", "dev", "Re: Oferta", "Agradecemos la propuesta, pero finalmente no la vamos a aceptar."),
    T("end-es-d3", E, "es", "dev", "Baja del servicio",
      "Les pedimos terminar el servicio del hub al final de {month}."),
    T("fc-es-d2", F, "es", "dev", "Consulta", "Buenas tardes, ¿ofrecen JupyterHub para universidades? Nos "
      "interesa conocer precios."),
    T("conf-pt-d3", C, "pt", "dev", "Re: Proposta", "Bom dia {team}, aprovamos a proposta do plano {tier} "
      "({price} por mês)."),
    T("wait-pt-d3", W, "pt", "dev", "Re: Proposta", "Precisamos adiar a decisão até sair o resultado do edital."),
    T("dec-pt-d3", D, "pt", "dev", "Re: Proposta", "Optamos por não seguir com a contratação neste momento, obrigado."),
    T("end-pt-d3", E, "pt", "dev", "Cancelamento", "Queremos cancelar a assinatura do hub a partir de {month}."),
    T("fc-pt-d2", F, "pt", "dev", "Consulta", "Olá, vocês oferecem hubs Jupyter para escolas? Gostaria de um "
      "orçamento."),
    T("conf-fr-d4", C, "fr", "dev", "Re: Proposition", "Bonjour {team}, notre direction a approuvé la formule "
      "{tier} à {price} par mois. Nous pouvons commencer le {start}."),
    T("wait-fr-d3", W, "fr", "dev", "Re: Proposition", "Nous devons reporter notre décision à l'année prochaine, "
      "faute de budget."),
    T("end-fr-d3", E, "fr", "dev", "Résiliation", "Par la présente, nous résilions notre abonnement au hub à "
      "compter de {month}."),
    T("fc-fr-d2", F, "fr", "dev", "Renseignements", "Bonjour, proposez-vous un hub Jupyter pour les lycées ? "
      "Merci de nous envoyer vos tarifs."),
    T("conf-de-d3", C, "de", "dev", "Re: Angebot", "Sehr geehrte Damen und Herren, hiermit bestellen wir das Paket "
      "{tier} zu {price} monatlich."),
    T("wait-de-d3", W, "de", "dev", "Re: Angebot", "Bevor die Mittel bewilligt sind, können wir nichts zusagen. "
      "Ich melde mich im {month} wieder."),
    T("dec-de-d3", D, "de", "dev", "Re: Angebot", "Nach interner Prüfung haben wir uns gegen das Angebot "
      "entschieden."),
    T("end-de-d3", E, "de", "dev", "Abbestellung", "Bitte stellen Sie unseren Hub zum {month} ein, wir brauchen "
      "ihn nicht mehr."),
    T("fc-de-d2", F, "de", "dev", "Anfrage", "Guten Tag, bieten Sie gehostete JupyterHubs für Hochschulen an? "
      "Bitte senden Sie uns Preise."),
    T("neg-cond-de-d2", O, "de", "dev", "Re: Angebot", "Falls die Mittel bewilligt werden, buchen wir das Paket "
      "{tier}.", kind="conditional"),
    T("neg-q-fr-d2", O, "fr", "dev", "Re: Offre", "Pourrions-nous résilier l'abonnement en cours d'année ?",
      kind="question"),
]

# A fifth batch of dev templates: more English registers for every intent.
TEMPLATES += [
    T("conf-en-d20", C, "en", "dev", "Re: your offer",
      "Hello {team}, happy to report that funding came through and we are signing on for the {tier} plan "
      "({price} a month)."),
    T("conf-en-d21", C, "en", "dev", "Re: Pricing options",
      "After comparing the options, {org} will subscribe to {tier} at {price}/month effective {start}."),
    T("conf-en-d22", C, "en", "dev", "Re: hub", "{tier} it is! {price} monthly is fine, let's roll.", wrap="phone"),
    T("conf-en-d23", C, "en", "dev", "Re: Proposal",
      "Dear {team}, please accept this message as formal approval to proceed with the {tier} hub at {price} "
      "per month."),
    T("aff-en-d9", A, "en", "dev", "Re: Service confirmation for {month}",
      "Hi, yes - everything in {month} went as planned and we're happy with the service."),
    T("aff-en-d10", A, "en", "dev", "Re: {month} check",
      "No issues on our end for {month}; the service was delivered fully."),
    T("wait-en-d15", W, "en", "dev", "Re: Hub quote",
      "We'd like to revisit the quote when our new budget is in place, probably in {month}."),
    T("wait-en-d16", W, "en", "dev", "Re: proposal",
      "Let's pick this conversation up again next quarter - we're still waiting for the award letter."),
    T("wait-en-d17", W, "en", "dev", "Re: offer", "we're interested but it's going to be a few months before we can "
      "commit. grant results are due in {month}.", kind="chatty"),
    T("dec-en-d15", D, "en", "dev", "Re: hub service",
      "Hi {team}, just a quick note to say we've decided against a hosted hub for now. Thank you for your patience."),
    T("dec-en-d16", D, "en", "dev", "Re: proposal",
      "Dear {team}, we regret that we are unable to accept your offer; the project has been cancelled."),
    T("dec-en-d17", D, "en", "dev", "Re: quote", "Appreciate it, but we're going to go a different route.",
      wrap="phone"),
    T("end-en-d15", E, "en", "dev", "Re: hub service",
      "Hello {team}, we want to give notice that we'll be terminating our hub service at the end of {month}."),
    T("end-en-d16", E, "en", "dev", "Re: next year",
      "We won't continue the hub service after our contract runs out in {month}."),
    T("end-en-d17", E, "en", "dev", "Re: hub", "time to say goodbye to the hub - pls cancel it after {month}",
      kind="chatty"),
    T("fc-en-d7", F, "en", "dev", "JupyterHub for our summer school",
      "Hi 2i2c team, could you send us information about hosting a hub for a two-week summer school?"),
    T("oth-en-d7", O, "en", "dev", "Re: outage", "The hub seems slow today, is there an issue on your side?"),
    T("oth-en-d8", O, "en", "dev", "Re: newsletter", "Loved the newsletter, thanks for the shout-out!"),
    T("neg-hedge-en-d5", O, "en", "dev", "Re: renewal",
      "We may not renew next year, depending on how the grant goes.", kind="hedged"),
    T("neg-cond-en-d4", O, "en", "dev", "Re: quote",
      "If we get the funding, we'll go ahead with {tier} at {price}/month.", kind="conditional"),
    T("neg-q-en-d5", O, "en", "dev", "Re: plans", "Is it possible to downgrade to {tier} next year?",
      kind="question"),
    T("neg-neg-en-d5", O, "en", "dev", "Re: hub", "We have not decided whether to end the service.",
      kind="negated"),
]

# A sixth batch of dev templates: other registers in Spanish, Portuguese, French and German.
TEMPLATES += [
    T("conf-es-d5", C, "es", "dev", "Re: Plan del hub", "Perfecto, nos quedamos con el plan {tier}. El pago mensual "
      "de {price} está aprobado."),
    T("aff-es-d2", A, "es", "dev", "Re: Servicios de {month}", "Sí, el hub funcionó perfectamente en {month}, "
      "todo conforme."),
    T("wait-es-d5", W, "es", "dev", "Re: Propuesta", "Lo tenemos que dejar para el año que viene, cuando tengamos "
      "fondos."),
    T("dec-es-d4", D, "es", "dev", "Re: Propuesta", "Le agradezco mucho, pero la institución decidió no avanzar con "
      "el hub."),
    T("end-es-d4", E, "es", "dev", "Re: Hub", "Les aviso que dejaremos de usar el hub a fin de {month}."),
    T("conf-pt-d4", C, "pt", "dev", "Re: Hub", "Pessoal, está decidido: vamos assinar o plano {tier} por {price} "
      "mensais."),
    T("aff-pt-d3", A, "pt", "dev", "Re: Certificação", "Confirmamos: em {month} o serviço foi prestado normalmente."),
    T("wait-pt-d4", W, "pt", "dev", "Re: Proposta", "No momento não dá; vamos retomar a conversa no próximo semestre."),
    T("dec-pt-d4", D, "pt", "dev", "Re: Proposta", "Depois de analisar, a universidade preferiu outra solução."),
    T("end-pt-d4", E, "pt", "dev", "Re: Hub", "Vamos parar de usar o hub depois de {month}, podem desativar."),
    T("conf-fr-d5", C, "fr", "dev", "Re: Hub", "Bonne nouvelle : nous signons pour la formule {tier} à {price} par "
      "mois."),
    T("aff-fr-d2", A, "fr", "dev", "Re: Attestation {month}", "Oui, le service de {month} a été rendu "
      "conformément au contrat."),
    T("wait-fr-d4", W, "fr", "dev", "Re: Proposition", "Pour l'instant c'est en suspens, en attendant la réponse du "
      "financeur."),
    T("dec-fr-d3", D, "fr", "dev", "Re: Proposition", "Nous ne donnerons pas suite, le projet a été abandonné."),
    T("end-fr-d4", E, "fr", "dev", "Re: Hub", "Nous arrêtons d'utiliser le hub fin {month}, vous pouvez le "
      "désactiver."),
    T("conf-de-d4", C, "de", "dev", "Re: Hub", "Gute Nachrichten: Wir buchen den Tarif {tier} für {price} im "
      "Monat."),
    T("aff-de-d2", A, "de", "dev", "Re: Leistungsnachweis {month}", "Ja, die Leistungen im {month} wurden "
      "vollständig erbracht."),
    T("wait-de-d4", W, "de", "dev", "Re: Angebot", "Im Moment geht es nicht, wir kommen im neuen Jahr darauf "
      "zurück."),
    T("dec-de-d4", D, "de", "dev", "Re: Angebot", "Wir haben uns für eine interne Lösung entschieden und sagen ab."),
    T("end-de-d4", E, "de", "dev", "Re: Hub", "Wir werden den Hub ab {month} nicht mehr nutzen, bitte "
      "deaktivieren."),
]

# A seventh batch of dev templates: postponements, refusals and first questions in more words.
TEMPLATES += [
    T("wait-en-d18", W, "en", "dev", "Re: hub proposal",
      "Thanks {team}. We're in a holding pattern until the board votes on next year's plan in {month}."),
    T("wait-en-d19", W, "en", "dev", "Re: pricing", "Could you check back with us in the autumn? Budget talks are "
      "ongoing."),
    T("wait-en-d20", W, "en", "dev", "Re: proposal", "Dear {team}, the decision is on ice while we restructure. "
      "We expect to be able to resume talks in {month}."),
    T("wait-en-d21", W, "en", "dev", "Re: quote", "we gotta wait on the NSF award first, fingers crossed!",
      wrap="phone"),
    T("dec-en-d18", D, "en", "dev", "Re: managed hub", "Hi {team}, our IT team will be hosting JupyterHub "
      "ourselves, so we won't be needing the managed service."),
    T("dec-en-d19", D, "en", "dev", "Re: proposal", "Dear {team}, thank you, but the proposal does not fit our "
      "budget and we have to say no."),
    T("dec-en-d20", D, "en", "dev", "Re: hub", "Not going to work out for us this time, sorry {team}!",
      kind="chatty"),
    T("dec-en-d21", D, "en", "dev", "Re: offer", "Our faculty voted to stay with our current provider.",
      kind="formal"),
    T("fc-en-d8", F, "en", "dev", "Hub for a hackathon", "Hey! We're organising a climate hackathon and wondered if "
      "2i2c could run a hub for it. Rates?"),
    T("fc-en-d9", F, "en", "dev", "Introduction", "Dear 2i2c, I lead a data science program and would welcome a "
      "conversation about your managed hubs."),
    T("wait-fr-d5", W, "fr", "dev", "Re: Devis", "Nous reviendrons vers vous à la rentrée, une fois le budget voté."),
    T("wait-de-d5", W, "de", "dev", "Re: Angebot", "Wir müssen abwarten, bis der Förderbescheid kommt."),
    T("wait-pt-d5", W, "pt", "dev", "Re: Proposta", "Vamos esperar a aprovação do orçamento para decidir."),
    T("wait-es-d6", W, "es", "dev", "Re: Propuesta", "Estamos a la espera de la resolución de la convocatoria."),
    T("dec-fr-d4", D, "fr", "dev", "Re: Offre", "Nous préférons finalement héberger le hub nous-mêmes, merci."),
    T("dec-de-d5", D, "de", "dev", "Re: Angebot", "Vielen Dank, wir verzichten auf das Angebot."),
    T("dec-es-d5", D, "es", "dev", "Re: Oferta", "Muchas gracias, pero vamos a declinar la oferta."),
    T("dec-pt-d5", D, "pt", "dev", "Re: Oferta", "Muito obrigado, mas não temos interesse no momento."),
    T("fc-fr-d3", F, "fr", "dev", "Question", "Bonjour, quel serait le coût d'un hub pour notre université ?"),
    T("fc-de-d3", F, "de", "dev", "Frage", "Hallo, wir suchen einen Anbieter für JupyterHub. Was kostet das?"),
]

CLIENTS = ("plain", "gmail", "outlook", "apple", "thunderbird", "phone", "html", "signature")
SIGNATURES = {
    "en": "--\n{name}\n{org}\nhttps://www.{domain}",
    "es": "--\n{name}\n{org}\nTel. +57 1 555 0100",
    "pt": "--\n{name}\n{org}\nTel.: +55 11 5555-0100",
    "fr": "--\n{name}\n{org}\nTél. : +33 1 55 55 01 00",
    "de": "--\n{name}\n{org}\nTel.: +49 40 5555 0100",
}
PHONE = {"en": "Sent from my iPhone", "es": "Enviado desde mi iPhone", "pt": "Enviado do meu iPhone",
         "fr": "Envoyé de mon iPhone", "de": "Von meinem iPhone gesendet"}
# A team offer quoted below a reply: its tier and price must not count as what the community said.
TEAM_OFFER = ("Hi {first},\n\nThanks for the call. As discussed, the {tier} tier is {price} per month, billed "
              "monthly. Let me know if you would like to go ahead.\n\nBest,\n{team}")


@dataclass(frozen=True)
class Slots:
    lang: str
    org: str
    domain: str
    name: str
    team: str
    team_addr: str
    tier: str
    fee: Decimal
    price: str
    currency: str
    month_name: str  # the month the template talks about: the one before `sent` for affirmations, else a later one
    month: str  # YYYY-MM of the month before `sent` (what an affirmation affirms)
    start_text: str
    start: date
    sent: datetime

    def fill(self, text: str) -> str:
        return text.format(team=self.team, first=self.name.split()[0], name=self.name, org=self.org,
                           tier=self.tier, price=self.price, month=self.month_name, start=self.start_text,
                           slug=self.org.split()[0].lower(), domain=self.domain)


def start_text(day: date, lang: str) -> str:
    month = MONTHS[lang][day.month - 1]
    return {"en": f"{month} {day.day}", "es": f"{day.day} de {month}", "pt": f"{day.day} de {month}",
            "fr": f"{day.day} {month}", "de": f"{day.day}. {month}"}[lang]


def make_slots(rng: random.Random, template: Template) -> Slots:
    lang = template.lang
    org, domain = rng.choice(ORGS[lang])
    team, team_addr = rng.choice(TEAM)
    fee = rng.choice(FEES)
    style, currency = rng.choice(_price_styles(lang))
    sent = datetime(2026, rng.randint(1, 11), rng.randint(1, 28), rng.randint(7, 19), rng.randint(0, 59),
                    tzinfo=UTC)
    previous = (sent.replace(day=1) - timedelta(days=1)).date()
    soon = (sent + timedelta(days=rng.randint(10, 50))).date()
    start = date(soon.year + soon.month // 12, soon.month % 12 + 1, 1)  # the first of the month after
    later = (sent + timedelta(days=rng.randint(35, 100))).date()
    looks_back = template.intent == A or "certif" in template.subject.lower() or "services for" in template.body
    month_name = MONTHS[lang][(previous if looks_back else later).month - 1]
    return Slots(lang, org, domain, rng.choice(PEOPLE[lang]), team, team_addr, rng.choice(TIERS[lang]), fee,
                 format_price(fee, style), currency, month_name,
                 f"{previous.year}-{previous.month:02d}", start_text(start, lang), start, sent)


def quote_block(client: str, slots: Slots, quoted: str) -> str:
    when = slots.sent - timedelta(days=3, hours=2)
    quoted_lines = "\n".join("> " + line if line else ">" for line in quoted.splitlines())
    who = f"{slots.team} <{slots.team_addr}>"
    if client == "gmail":
        return f"On {when:%a, %b %d, %Y at %I:%M %p} {who} wrote:\n{quoted_lines}"
    if client == "apple":
        return f"> On {when:%d %b %Y}, at {when:%H:%M}, {who} wrote:\n>\n{quoted_lines}"
    if client == "thunderbird":
        return f"On {when:%d/%m/%Y %H:%M}, {slots.team} wrote:\n{quoted_lines}"
    # Outlook: no quote marks, a header block under a rule
    return (f"________________________________\nFrom: {who}\nSent: {when:%A, %B %d, %Y %I:%M %p}\n"
            f"To: {slots.name}\nSubject: Proposal\n\n{quoted}")


def compose(template: Template, slots: Slots, client: str) -> tuple[str, str | None]:
    """(plain text, html or None) of the body in the given mail-client style."""
    body = slots.fill(template.body)
    offer = slots.fill(TEAM_OFFER)
    if client == "gmail_confirm":  # hard negative: the confirmation is only in the quoted history
        offer = slots.fill("Hi {team}, we would like to go ahead with the {tier} tier at {price} per month. "
                           "We confirm.\n{first}")
        return body + "\n\n" + quote_block("gmail", slots, offer), None
    if client == "outlook_confirm":
        offer = slots.fill("Dear {team}, I am happy to confirm we will take the {tier} plan at {price}/month.")
        return body + "\n\n" + quote_block("outlook", slots, offer), None
    if client in ("gmail", "apple", "thunderbird", "outlook"):
        return body + "\n\n" + quote_block(client, slots, offer), None
    if client == "phone":
        return body + "\n\n" + PHONE[slots.lang], None
    if client == "signature":
        return body + "\n\n" + slots.fill(SIGNATURES[slots.lang]), None
    if client == "html":
        paragraphs = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n"))
        return "", (f"<html><head><style>p{{margin:0}}</style></head><body><div dir=\"ltr\">{paragraphs}"
                    f"<div class=\"gmail_signature\">{escape(slots.name)}<br>{escape(slots.org)}</div></div>"
                    "</body></html>")
    return body, None


def build_message(template: Template, slots: Slots, client: str, number: int) -> bytes:
    message = EmailMessage()
    contact = f"{slots.name.split()[0].lower()}@{slots.domain}"
    if template.sender == "team":
        message["From"] = f"{slots.team} <{slots.team_addr}>"
        message["To"] = f"{slots.name} <{contact}>"
        message["Cc"] = PARTNERSHIPS
    elif template.sender == "operations":
        message["From"] = f"Operations <{OPERATIONS}>"
        message["To"] = f"{slots.name} <{contact}>"
        message["Cc"] = PARTNERSHIPS
    else:
        message["From"] = f"{slots.name} <{contact}>"
        message["To"] = f"{slots.team} <{slots.team_addr}>"
        message["Cc"] = PARTNERSHIPS
    message["Subject"] = slots.fill(template.subject)
    message["Date"] = format_datetime(slots.sent)
    digest = hashlib.sha256(f"{template.key}:{number}".encode()).hexdigest()[:16]
    message["Message-ID"] = f"<{digest}@{slots.domain if template.sender == 'contact' else '2i2c.org'}>"
    if template.subject.startswith("Re:"):
        message["In-Reply-To"] = f"<offer-{digest}@2i2c.org>"
        message["References"] = f"<offer-{digest}@2i2c.org>"
    if client in ("outlook", "outlook_confirm"):
        message["X-Mailer"] = "Microsoft Outlook 16.0"
    elif client == "thunderbird":
        message["User-Agent"] = "Mozilla Thunderbird 128.3"
    text, html = compose(template, slots, client)
    if html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text)
    if template.attachment:
        filename, content_type = template.attachment
        maintype, subtype = content_type.split("/", 1)
        payload = b"%PDF-1.4\n% eval fixture\n" + digest.encode() + b"\n%%EOF\n"
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=slots.fill(filename))
        message.set_boundary(f"=_eval_{digest}")  # the default boundary is random: keep the files reproducible
    return message.as_bytes()


def labels_for(template: Template, slots: Slots, text: str) -> dict[str, str]:
    """The facts a reader finds in what the sender wrote (not in quoted history)."""
    body = template.body
    stated = {
        "tier": slots.tier.lower() if "{tier}" in body else "",
        "price": str(slots.fee) if "{price}" in body else "",
        "currency": slots.currency if "{price}" in body else "",
        "start_date": slots.start.isoformat() if "{start}" in body else "",
        "month": "",
    }
    if template.intent == "delivery_affirmation":
        stated["month"] = slots.month  # stated, or the month before the reply (the daemon's documented default)
    return stated


INSTANCES = {"en": 3, "es": 2, "pt": 2, "fr": 2, "de": 2}


def main() -> None:
    rng = random.Random(SEED)
    for split in ("dev", "test"):
        shutil.rmtree(ROOT / split, ignore_errors=True)
        (ROOT / split).mkdir()
    rows = []
    keys = [t.key for t in TEMPLATES]
    assert len(keys) == len(set(keys)), "duplicate template key"
    for template in TEMPLATES:
        count = INSTANCES[template.lang] + (1 if template.intent in (C, A) else 0)
        for number in range(1, count + 1):
            slots = make_slots(rng, template)
            client = template.wrap or rng.choice(CLIENTS)
            if client == "phone" and template.wrap == "" and template.lang != "en":
                client = "plain"
            name = f"{template.split}/{template.key}-{number}.eml"
            raw = build_message(template, slots, client, number)
            (ROOT / name).write_bytes(raw)
            rows.append({"file": name, "split": template.split, "intent": template.intent, "lang": template.lang,
                         "client": client, "kind": template.kind, **labels_for(template, slots, raw.decode())})
    with (ROOT / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "split", "intent", "tier", "price", "currency", "month",
                                                    "start_date", "lang", "client", "kind"])
        writer.writeheader()
        writer.writerows(rows)
    by_split = {s: sum(1 for r in rows if r["split"] == s) for s in ("dev", "test")}
    foreign = sum(1 for r in rows if r["lang"] != "en")
    print(f"{len(rows)} messages ({by_split['dev']} dev, {by_split['test']} test), "
          f"{foreign / len(rows):.0%} in es/pt/fr/de")


if __name__ == "__main__":
    main()
