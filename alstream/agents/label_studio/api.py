"""The few Label Studio calls the bridge makes, through ``label-studio-sdk``, as plain dicts.

The only module that imports the SDK (lazily, in :func:`connect`), so the rest of alstream works without
the optional extra and a missing extra fails at the bridge's start with the command that installs it.
Every SDK or transport error becomes :class:`LabelStudioUnavailable`: the bridge retries next cycle.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from alstream.agents.label_studio.exceptions import LabelStudioUnavailable, MissingExtra

T = TypeVar("T")
ANNOTATOR_FIELD = "annotator"  # task data field the queue tabs filter on
ASSIGNMENT_FIELD = "assignment_id"
PAGE_SIZE = 100
LS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the only format Label Studio's Datetime filters accept


def _sdk() -> Any:
    try:
        import label_studio_sdk
    except ImportError:
        raise MissingExtra(
            "The Label Studio bridge needs the optional extra: pip install 'alstream[label-studio]' "
            "(it installs label-studio-sdk)"
        ) from None
    return label_studio_sdk


def _plain(obj: Any) -> Any:
    """SDK models (pydantic) as JSON-like dicts; Label Studio's own times stay ISO strings."""
    if obj is None or isinstance(obj, dict | list | str | int | float | bool):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    return dict(obj)


def _filter(field: str, value: Any, *, operator: str = "equal", kind: str = "String") -> dict[str, Any]:
    return {"filter": f"filter:tasks:{field}", "operator": operator, "type": kind, "value": value}


def queue_filters(annotator_id: str) -> dict[str, Any]:
    """The Data Manager filter of one annotator's queue tab."""
    return {"conjunction": "and", "items": [_filter(f"data.{ANNOTATOR_FIELD}", annotator_id)]}


class LabelStudioApi:
    """A Label Studio server as the bridge sees it. Build it with :func:`connect`."""

    def __init__(self, *, client: Any, base_url: str, token: str, timeout_s: float) -> None:
        self._client = client
        self.base_url = base_url
        self._token = token
        self._timeout_s = timeout_s
        self._errors: tuple[type[BaseException], ...] = _transport_errors()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except self._errors as exc:
            raise LabelStudioUnavailable(f"Label Studio {what} failed: {type(exc).__name__}: {exc}") from exc

    # ---- projects and views ----------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        return _plain(self._call("whoami", self._client.users.whoami))

    def find_project(self, title: str) -> dict[str, Any] | None:
        for project in self._pages(
            "project lookup",
            lambda page: self._client.projects.list(title=title, page=page, page_size=PAGE_SIZE),
        ):
            if project.get("title") == title:
                return project
        return None

    def create_project(self, *, title: str, label_config: str, description: str) -> dict[str, Any]:
        created = self._call(
            "project creation",
            lambda: self._client.projects.create(
                title=title,
                label_config=label_config,
                description=description,
                maximum_annotations=1,  # one assignment, one answer: overlap is alstream's job
                show_skip_button=True,
                show_instruction=False,
            ),
        )
        return _plain(created)

    def project(self, project_id: int) -> dict[str, Any]:
        return _plain(self._call("project read", lambda: self._client.projects.get(project_id)))

    def update_label_config(self, project_id: int, label_config: str) -> None:
        self._call(
            "labeling config update",
            lambda: self._client.projects.update(project_id, label_config=label_config),
        )

    def views(self, project_id: int) -> list[dict[str, Any]]:
        return [
            _plain(v) for v in self._call("view list", lambda: self._client.views.list(project=project_id))
        ]

    def create_view(self, project_id: int, *, title: str, annotator_id: str) -> dict[str, Any]:
        data = {"title": title, "filters": queue_filters(annotator_id), "ordering": ["tasks:id"]}
        return _plain(
            self._call("view creation", lambda: self._client.views.create(project=project_id, data=data))
        )

    # ---- tasks -------------------------------------------------------------------------------------
    def find_task(self, project_id: int, assignment_id: str) -> dict[str, Any] | None:
        """The task carrying this assignment, if one was imported before (a crash can hide it from the
        bridge's own map)."""
        query = json.dumps(
            {"filters": {"conjunction": "and", "items": [_filter(f"data.{ASSIGNMENT_FIELD}", assignment_id)]}}
        )
        for task in self._pages(
            "task lookup",
            lambda page: self._client.tasks.list(
                project=project_id, query=query, page=page, page_size=PAGE_SIZE
            ),
        ):
            if (task.get("data") or {}).get(ASSIGNMENT_FIELD) == assignment_id:
                return task
        return None

    def create_task(self, project_id: int, data: dict[str, Any]) -> int:
        created = self._call("task import", lambda: self._client.tasks.create(project=project_id, data=data))
        return int(_plain(created)["id"])

    def task(self, task_id: int) -> dict[str, Any]:
        return _plain(self._call("task read", lambda: self._client.tasks.get(str(task_id))))

    def delete_task(self, task_id: int) -> None:
        self._call("task removal", lambda: self._client.tasks.delete(str(task_id)))

    def tasks_updated_since(self, project_id: int, since: datetime) -> Iterator[dict[str, Any]]:
        """Tasks (with their annotations) updated after ``since``, oldest update first."""
        query = json.dumps(
            {
                "filters": {
                    "conjunction": "and",
                    "items": [
                        _filter(
                            "updated_at", since.strftime(LS_TIME_FORMAT), operator="greater", kind="Datetime"
                        )
                    ],
                },
                "ordering": ["tasks:updated_at"],
            }
        )
        yield from self._pages(
            "task poll",
            lambda page: self._client.tasks.list(
                project=project_id, query=query, fields="all", page=page, page_size=PAGE_SIZE
            ),
        )

    def _pages(self, what: str, fetch: Callable[[int], Any]) -> Iterator[dict[str, Any]]:
        """Every record of a paginated list, one request per page. (The SDK's own iterator asks for the
        page after the last one, which Label Studio answers with a 404 and a logged traceback.)"""
        page = 1
        while True:
            items: list[Any] = self._call(what, functools.partial(_page_items, fetch, page))
            yield from (_plain(item) for item in items)
            if len(items) < PAGE_SIZE:
                return
            page += 1

    # ---- users ------------------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        return [_plain(u) for u in self._call("user list", self._client.users.list)]

    def create_account(self, *, email: str, password: str) -> None:
        """Sign a user up through the organization's invite link, so they can log in with ``password``.

        Users created through the REST API have no usable password in the open-source edition; the
        invite sign-up is the way Label Studio itself adds a member with one.
        """
        import httpx

        def sign_up() -> None:
            headers = {"Authorization": f"Token {self._token}"}
            with httpx.Client(base_url=self.base_url, timeout=self._timeout_s) as http:
                invite = http.get("/api/invite", headers=headers)
                invite.raise_for_status()
                token = invite.json()["token"]
            # A fresh client: the sign-up logs the new user into this session, which is then dropped.
            with httpx.Client(base_url=self.base_url, timeout=self._timeout_s) as http:
                page = http.get("/user/signup/", params={"token": token})
                page.raise_for_status()
                csrf = http.cookies.get("csrftoken") or ""
                answer = http.post(
                    "/user/signup/",
                    params={"token": token},
                    data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
                    headers={"Referer": f"{self.base_url}/user/signup/"},
                )
                if answer.status_code != 302:  # the form page again: the form carries the reason
                    raise LabelStudioUnavailable(
                        f"Label Studio refused to create the account {email} (HTTP {answer.status_code}); "
                        "check the password rules (8+ characters, not too common)"
                    )

        self._call("account creation", sign_up)

    # ---- webhooks ---------------------------------------------------------------------------------
    def ensure_webhook(self, project_id: int, url: str) -> None:
        def ensure() -> None:
            for hook in self._client.webhooks.list(project=str(project_id)):
                if _plain(hook).get("url") == url:
                    return
            self._client.webhooks.create(
                url=url,
                project=project_id,
                send_payload=False,
                send_for_all_actions=False,
                actions=["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED"],
            )

        self._call("webhook setup", ensure)


def _page_items(fetch: Callable[[int], Any], page: int) -> list[Any]:
    return fetch(page).items or []


def _transport_errors() -> tuple[type[BaseException], ...]:
    import httpx

    _sdk()
    from label_studio_sdk.core.api_error import ApiError

    return (ApiError, httpx.HTTPError, OSError, ValueError, KeyError)


def connect(*, url: str, token: str, timeout_s: float) -> LabelStudioApi:
    """A client for ``url`` acting with ``token``; raises :class:`MissingExtra` without the SDK."""
    sdk = _sdk()
    client = sdk.LabelStudio(base_url=url, api_key=token, timeout=timeout_s)
    return LabelStudioApi(client=client, base_url=url, token=token, timeout_s=timeout_s)
