"""Step specifications (what a client sends, what an execution stores): one model per ``kind``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, TypeAdapter

TEXT = r"^[^\x00]*$"


class StepBase(BaseModel):
    """Fields every step has."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    node_id: Annotated[str, Field(min_length=1, max_length=255, pattern=TEXT)] | None = Field(
        default=None, description="Node name used in logs; defaults to `<kind>-<position>`."
    )
    max_attempts: Annotated[int, Field(ge=1, le=20)] | None = Field(
        default=None,
        description="Attempts before the step (and so the execution) fails; "
        "defaults to STEP_DEFAULT_MAX_ATTEMPTS.",
    )


class SleepStep(StepBase):
    """Wait ``seconds``."""

    kind: Literal["sleep"]
    seconds: float = Field(ge=0, le=60, description="Seconds to sleep (0 to 60).")


class EchoStep(StepBase):
    """Log ``message`` (with ``data`` as payload) and return them as the step output."""

    kind: Literal["echo"]
    message: str = Field(max_length=10_000, pattern=TEXT)
    data: dict[str, Any] | None = Field(default=None, description="Any JSON object.")


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class HttpStep(StepBase):
    """Call a URL; the step fails on a transport error or an unexpected status."""

    kind: Literal["http"]
    url: HttpUrl
    method: HttpMethod = "GET"
    headers: dict[
        Annotated[
            str, Field(min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
        ],
        Annotated[str, Field(max_length=8192, pattern=r"^[\t\x20-\x7e]*$")],
    ] = Field(default_factory=dict, max_length=50)
    body: Any = Field(default=None, description="JSON body (sent when not null).")
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds; capped by settings.")
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None,
        max_length=50,
        description="Statuses that count as success; default: any status below 400.",
    )


class FailStep(StepBase):
    """Fail on purpose: always, or only on the first ``fail_times`` attempts (retry demos)."""

    kind: Literal["fail"]
    message: str = Field(default="step failed on purpose", max_length=10_000, pattern=TEXT)
    fail_times: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Fail this many attempts then succeed; null: always.",
    )


AnyStep = SleepStep | EchoStep | HttpStep | FailStep
StepSpec = Annotated[AnyStep, Field(discriminator="kind")]
STEP_ADAPTER: TypeAdapter[AnyStep] = TypeAdapter(StepSpec)


def parse_step(data: dict[str, Any]) -> AnyStep:
    """Validate a stored step spec."""
    return STEP_ADAPTER.validate_python(data)
