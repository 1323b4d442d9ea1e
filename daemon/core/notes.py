"""Render the notes that go out with forwards from the operator's Jinja2 templates, sandboxed and strict."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from daemon.errors import TemplateError

REQUIRED_TEMPLATES = (
    "forward_service_confirmation.txt.j2",
    "forward_delivery_affirmation.txt.j2",
    "forward_contract.txt.j2",
    "invoice_batch.txt.j2",
    "digest.txt.j2",
    "alert_failed_action.txt.j2",
)


class NoteRenderer:
    """Email content is only ever passed in as variables; the template source comes from `directory` alone."""

    def __init__(self, directory: Path, *, globals_: Mapping[str, Any] | None = None) -> None:
        if not directory.is_dir():
            raise TemplateError(f"templates directory {directory} does not exist")
        self.directory = directory
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text notes: HTML escaping would garble them
            keep_trailing_newline=True,
        )
        self._env.globals.update(globals_ or {})

    def check(self) -> None:
        """Compile every required template, so a broken one fails at start-up, not at send time."""
        for name in REQUIRED_TEMPLATES:
            self._template(name)

    def render(self, name: str, variables: Mapping[str, Any]) -> str:
        template = self._template(name)
        try:
            return template.render(**variables)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name} not found in {self.directory}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {exc.filename or name} line {exc.lineno}: {exc.message}") from None
