"""Settings section ``[label_studio]`` (env ``ALSTREAM_LABEL_STUDIO__*``), owned by the labeling lead.

The bridge needs a Label Studio address and an API token; everything else has a default. Secrets
(the token, the initial annotator password) are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from alstream.config_base import Section
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, annotator_problem
from alstream.exceptions import ConfigError


class LabelStudioSettings(Section):
    """How the bridge (``alstream agent label-studio``) reaches Label Studio and whom it serves."""

    url: str | None = Field(
        default=None, description="Base URL of Label Studio, e.g. http://label-studio:8080 (required)."
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="API token of the Label Studio account the bridge acts as (an administrator; required).",
    )
    project_title: str = Field(
        default="alstream: {task}",
        description="Title of the project per labeling task; {task} is replaced by [task] name. "
        "A project with this title is reused.",
    )
    data_type: Literal["auto", "image", "text"] = Field(
        default="auto",
        description="What the item's uri points at. auto: image when the uri is an image (by extension "
        "or data:image/), else text; decided by the first assignment when the project is created.",
    )
    annotators: list[str] = Field(
        default_factory=list,
        description="Annotator ids the bridge serves (each gets a queue tab and READY / OFFLINE events).",
    )
    email_domain: str = Field(
        default="alstream.local",
        description="An annotator's Label Studio account is <annotator id>@<email_domain> unless "
        "annotator_emails names it.",
    )
    annotator_emails: dict[str, str] = Field(
        default_factory=dict, description="Annotator id -> Label Studio e-mail, where the default differs."
    )
    create_accounts: bool = Field(
        default=False,
        description="Create a missing annotator account (with initial_password) at its first assignment.",
    )
    initial_password: SecretStr | None = Field(
        default=None, description="Password of accounts the bridge creates; annotators should change it."
    )
    queue_size: int = Field(
        default=5, ge=1, le=100, description="Open tasks the bridge keeps in each annotator's queue."
    )
    idle_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="An annotator with no Label Studio activity for this long is sent OFFLINE and their "
        "open tasks go back to the pool; their next activity brings them back.",
    )
    poll_interval_s: float = Field(
        default=2.0, gt=0, le=300, description="Seconds between polls of Label Studio for annotations."
    )
    poll_overlap_s: float = Field(
        default=5.0,
        ge=0,
        description="Each poll re-reads tasks updated this long before the watermark, so an annotation "
        "committed late is never missed (re-read ones are recognised and skipped).",
    )
    state_file: Path | None = Field(
        default=None,
        description="SQLite file of the bridge's state (assignment -> task map, watermark); "
        "default <state_dir>/label-studio-bridge.sqlite3.",
    )
    local_files_root: Path | None = Field(
        default=None,
        description="Items whose uri is a local file under this directory (file:// or a plain path) are "
        "embedded in the task as data: URIs, so the browser needs no file server. Unset: never read files.",
    )
    max_embedded_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest local file the bridge embeds."
    )
    webhook_port: int = Field(
        default=0,
        ge=0,
        le=65_535,
        description="Port of the optional webhook hint endpoint (0: off). Label Studio's webhooks fire "
        "once without retry, so they only make the next poll come sooner; polling stays the source of truth.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="Address Label Studio should call for the webhook hint; "
        "default http://127.0.0.1:<webhook_port>/.",
    )
    request_timeout_s: float = Field(default=15.0, gt=0, description="Timeout of one Label Studio request.")

    @field_validator("annotators")
    @classmethod
    def _valid_annotators(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("annotator ids must be distinct")
        for annotator in value:
            problem = annotator_problem(annotator, field="annotator id", max_length=DEFAULT_MAX_ID_LENGTH)
            if problem is not None:
                raise ValueError(str(problem))
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _accounts_need_a_password(self) -> LabelStudioSettings:
        if self.create_accounts and self.initial_password is None:
            raise ValueError(
                "create_accounts needs initial_password (ALSTREAM_LABEL_STUDIO__INITIAL_PASSWORD)"
            )
        return self

    def require_connection(self) -> tuple[str, str]:
        """(url, token), or a :class:`ConfigError` naming the variables to set."""
        if not self.url or self.api_token is None:
            raise ConfigError(
                "The Label Studio bridge needs ALSTREAM_LABEL_STUDIO__URL and "
                "ALSTREAM_LABEL_STUDIO__API_TOKEN ([label_studio] url and api_token)"
            )
        if not self.annotators:
            raise ConfigError(
                "The Label Studio bridge serves no annotator: set ALSTREAM_LABEL_STUDIO__ANNOTATORS, "
                'e.g. \'["ann-1", "ann-2"]\''
            )
        return self.url, self.api_token.get_secret_value()

    def email_of(self, annotator_id: str) -> str:
        return self.annotator_emails.get(annotator_id, f"{annotator_id}@{self.email_domain}").lower()

    def project_title_for(self, task_name: str) -> str:
        return self.project_title.replace("{task}", task_name)
