"""The selection policy: a versioned TOML file owned by the ML owner.

One primary goal, one signal with its parameters (or several, fused on ranks), one unit of work, the
fixed random slice, the candidate budget per window with its diversity rule, the cold-start rule,
the QA gold set reference and the shifted-domain review share. The policy is frozen: a running
scorer never changes policy mid-flight, and every score carries ``version``. How a policy becomes
active (version bump, at most weekly, history) is in :mod:`alstream.agents.selection.history`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alstream.agents.selection.diversity import DiversityMethod
from alstream.agents.selection.exceptions import PolicyError, SelectionError
from alstream.agents.selection.fusion import RankFusion
from alstream.agents.selection.signals import SIGNALS, Signal, signal_named

UnitOfWork = Literal["ITEM", "OBJECT", "REGION", "PIXEL_MASK"]

#: the guide: "many teams keep 10 to 20 percent random mix"; outside this band needs ``force``
SLICE_FRACTION_BOUNDS = (0.05, 0.5)


class SignalSpec(BaseModel):
    """Which signal ranks items and its parameters (see ``alstream policy explain``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "random"
    params: dict[str, Any] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0, description="Share in a rank fusion (``[[signals]]``).")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in SIGNALS:
            raise ValueError(f"unknown signal {value!r}: choose one of {', '.join(sorted(SIGNALS))}")
        return value


class DiversitySpec(BaseModel):
    """How a window's candidates are spread over the embedding space (:mod:`.diversity`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: DiversityMethod = "none"
    pool: float = Field(
        default=4.0, ge=1.0, le=20.0, description="Pick among the top pool x candidates_per_window items."
    )


class ColdStartSpec(BaseModel):
    """Random selection until the model has seen enough labels of every class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels_per_class: int = Field(default=0, ge=0, description="0 turns the rule off.")

    def applies(self, class_counts: Mapping[str, int], classes: Sequence[str]) -> bool:
        """True while some class (of ``classes``, else of the counts) has fewer labels than required.

        Empty ``class_counts`` means unknown (a model bundle that does not record them): never cold.
        """
        if self.labels_per_class <= 0 or not class_counts:
            return False
        names = list(classes) or list(class_counts)
        return min(int(class_counts.get(name, 0)) for name in names) < self.labels_per_class


class Policy(BaseModel):
    """A selection policy. Frozen; compare versions and :meth:`fingerprint` to detect changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, description="Bump it on every change; stamped on every score.")
    goal: str = Field(min_length=1, description="The one primary goal, e.g. 'higher recall on rare class X'.")
    owner: str = "ml-owner"
    unit_of_work: UnitOfWork = "ITEM"
    signal: SignalSpec | None = None
    signals: tuple[SignalSpec, ...] = Field(
        default=(), description="Two or more signals fused on ranks; instead of ``signal``."
    )
    diversity: DiversitySpec = DiversitySpec()
    cold_start: ColdStartSpec = ColdStartSpec()
    random_slice_fraction: float = Field(default=0.15, ge=0.0, lt=1.0)
    random_slice_salt: str = Field(default="alstream-random-slice-v1", min_length=1)
    force_random_slice_fraction: bool = False
    candidates_per_window: int = Field(
        default=20, ge=0, description="Top-N by score per partition per window."
    )
    window_seconds: float = Field(default=10.0, gt=0)
    qa_gold_file: Path | None = Field(default=None, description="Stable QA gold set (item_id,label CSV).")
    qa_gold_per_window: int = Field(default=5, ge=0)
    shift_review_share: float = Field(default=0.1, ge=0.0, le=1.0)
    shift_review_min_confidence: float = Field(default=0.9, ge=0.0, le=1.0)
    shift_review_per_window: int = Field(default=5, ge=0)
    drift_psi_threshold: float = Field(default=0.2, gt=0)
    drift_min_samples: int = Field(default=200, ge=10)
    drift_period_days: float = Field(default=7.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.signal is not None and self.signals:
            raise ValueError("give either [signal] or [[signals]] (a fusion of two or more), not both")
        if len(self.signals) == 1:
            raise ValueError("[[signals]] fuses two or more signals; for one signal use [signal]")
        if self.signal is None and not self.signals:
            object.__setattr__(self, "signal", SignalSpec())  # the random baseline
        low, high = SLICE_FRACTION_BOUNDS
        if not (low <= self.random_slice_fraction <= high) and not self.force_random_slice_fraction:
            raise ValueError(
                f"random_slice_fraction={self.random_slice_fraction} is outside {low}-{high}; a slice that "
                "small cannot catch drift and one that large starves selection. Set "
                "force_random_slice_fraction = true to insist."
            )
        if "hardness" in self.signal_names and self.unit_of_work == "ITEM":
            raise ValueError(
                "signal 'hardness' scores segmentation units: "
                "set unit_of_work to OBJECT, REGION or PIXEL_MASK"
            )
        self.build_signal(_checking=True)
        return self

    @property
    def signal_specs(self) -> tuple[SignalSpec, ...]:
        """The signals that rank items: one, or the members of a fusion."""
        return self.signals or (self.signal or SignalSpec(),)

    @property
    def signal_names(self) -> list[str]:
        return [spec.name for spec in self.signal_specs]

    @property
    def signal_name(self) -> str:
        """What scores are stamped with: the signal's name, or ``fusion:<members>``."""
        if not self.signals:
            return self.signal_specs[0].name
        signal = self.build_signal(_checking=True)
        assert isinstance(signal, RankFusion)
        return signal.label

    @property
    def uses_failure_bank(self) -> bool:
        return "failure_distance" in self.signal_names

    @property
    def random_slice_candidates_per_window(self) -> int:
        """Random-slice candidates per window so they are ``random_slice_fraction`` of slice + top-N."""
        f = self.random_slice_fraction
        if self.candidates_per_window == 0 or f == 0:
            return 0
        return max(1, round(self.candidates_per_window * f / (1.0 - f)))

    def build_signal(self, *, _checking: bool = False, **extra: Any) -> Signal:
        """The policy's signal, ready to score (a :class:`RankFusion` for ``[[signals]]``).

        ``extra`` reaches the failure_distance signal (e.g. ``bank=``); a fusion passes it only to it.
        """
        built = []
        for spec in self.signal_specs:
            params = dict(spec.params)
            if spec.name == "failure_distance":
                if _checking:
                    params.pop("bank_file", None)  # the file may not exist yet when the policy is checked
                params.update(extra)
            built.append((signal_named(spec.name, **params), spec.weight))
        if len(built) == 1:
            return built[0][0]
        return RankFusion(members=built)

    def _canonical(self) -> dict[str, Any]:
        """The content as JSON-able data, without the keys that are at their defaults and that older
        policy files could not have (fusion, diversity, cold start, signal weight): a policy file that
        does not use them keeps the fingerprint it always had, so upgrading alstream never reads as a
        policy change without a version bump."""
        body = self.model_dump(mode="json")
        for key, default in (
            ("signals", []),
            ("diversity", DiversitySpec()),
            ("cold_start", ColdStartSpec()),
        ):
            if body[key] == (default if isinstance(default, list) else default.model_dump(mode="json")):
                del body[key]
        if body.get("signal") and body["signal"].get("weight") == 1.0:
            del body["signal"]["weight"]
        return body

    def fingerprint(self) -> str:
        """SHA-256 of the canonical content (version included): equal iff the policies are equal."""
        canonical = json.dumps(self._canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def content_fingerprint(self) -> str:
        """Like :meth:`fingerprint` but ignoring ``version``: detects a change without a bump."""
        body = self._canonical()
        body.pop("version")
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


#: used when no policy file is configured: the baseline every smarter policy must beat
BASELINE_POLICY = Policy(version="baseline-random-0", goal="baseline: uniform random sample of the stream")


ONE_SIGNAL = (
    'a policy ranks by exactly one signal ([signal] name = "..."), so its results can be read and '
    "explained; compare signals with `alstream simulate` and write one policy file per signal"
)


def _names_a_second_signal(error: Any) -> bool:
    """A list of signals, a ``signals`` key, a ``[signal2]`` table or a signal's name used as a key."""
    loc = [str(part) for part in error["loc"]]
    if loc[:2] == ["signal", "name"] and isinstance(error.get("input"), list | tuple):
        return True
    if error["type"] != "extra_forbidden":
        return False
    key, value = (loc[-1] if loc else ""), error.get("input")
    return key.startswith("signal") or key in SIGNALS or (isinstance(value, str) and value in SIGNALS)


def policy_from_dict(data: dict[str, Any], *, source: str = "<dict>", base_dir: Path | None = None) -> Policy:
    """Validate a policy mapping; relative file references resolve against ``base_dir``."""
    body = dict(data)
    if base_dir is not None:
        for key in ("qa_gold_file",):
            if body.get(key) and not Path(body[key]).is_absolute():
                body[key] = str(base_dir / body[key])
        if body.get("signal"):
            body["signal"] = _resolve_bank_file(body["signal"], base_dir)
        if body.get("signals"):
            body["signals"] = [_resolve_bank_file(spec, base_dir) for spec in body["signals"]]
    try:
        return Policy(**body)
    except ValidationError as exc:
        lines = [f"Invalid selection policy {source}:"]
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "policy"
            message = error["msg"].removeprefix("Value error, ")
            if _names_a_second_signal(error):
                message = ONE_SIGNAL
            elif error["type"] == "extra_forbidden":
                message = "unknown key (check its spelling against docs/policy.md)"
            lines.append(f"  - {where}: {message}")
        raise PolicyError("\n".join(lines)) from None
    except SelectionError as exc:
        raise PolicyError(f"Invalid selection policy {source}: {exc}") from None


def _resolve_bank_file(spec: Any, base_dir: Path) -> Any:
    if not isinstance(spec, dict):
        return spec  # validation says what is wrong with it
    params = dict(spec.get("params") or {})
    if params.get("bank_file") and not Path(params["bank_file"]).is_absolute():
        params["bank_file"] = str(base_dir / params["bank_file"])
        return {**spec, "params": params}
    return spec


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy TOML file, or raise :class:`PolicyError` saying what to fix."""
    source = Path(path)
    if not source.is_file():
        raise PolicyError(
            f"policy file {source} does not exist: fix [paths] policy_file / ALSTREAM_PATHS__POLICY_FILE"
        )
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {source} is not valid TOML: {exc}") from None
    return policy_from_dict(data, source=str(source), base_dir=source.parent.resolve())
