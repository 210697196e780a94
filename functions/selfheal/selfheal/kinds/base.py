"""What a kind of resource is: the one place that knows how to observe, plan, create and show it.

The engine, the executor, the report renderer and the CLI know no kind by name: they ask the registry
(selfheal/kinds/__init__.py) for the kind of a spec, a step or a result. Adding a kind is one module with a `Kind`
subclass and `register(...)`, plus its estate section, the role's permissions in template.yaml and local-AWS support.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from ..apply.executor import Deadline, Waits
from ..model import Outcome, ResourcePlan, ResourceResult, Step

if TYPE_CHECKING:
    from ..context import RunContext
    from ..loader import EstateParser


class Spec(Protocol):
    """What every declared resource has."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def region(self) -> str: ...


class State(Protocol):
    """What every observed resource has."""

    @property
    def exists(self) -> bool: ...


SpecT = TypeVar("SpecT", bound=Spec)
StateT = TypeVar("StateT", bound=State)
WaitFn = Callable[[Any, Mapping[str, Any], Waits, Deadline], None]


@dataclass(frozen=True)
class Column:
    """One column of the kind's `status` table: its header, the status detail it shows, and how."""

    header: str
    detail: str
    show: Literal["text", "switch", "names"] = "text"  # switch: on/off/-; names: a list joined with commas
    justify: Literal["left", "right"] = "left"


class Kind(Generic[SpecT, StateT]):
    """A kind of resource. Subclasses set the class attributes and implement observe, plan and details."""

    name: ClassVar[str]  # "table": ResourcePlan.kind, ResourceResult.kind, the report's words
    section: ClassVar[str]  # "tables": the estate file's list of them
    title: ClassVar[str]  # "DynamoDB tables": the heading of its `status` table
    spec_type: ClassVar[type]
    services: ClassVar[tuple[str, ...]]  # the boto3 services of its steps: how the executor finds a step's kind
    creates: ClassVar[tuple[str, ...]] = ()  # operations that bring a missing one into being (restores included)
    restores: ClassVar[tuple[str, ...]] = ()  # those of them that bring its data back from a copy
    aws_waits: ClassVar[tuple[str, ...]] = ()  # waits for AWS's own slow work (a restore): not this run's lateness
    columns: ClassVar[tuple[Column, ...]] = ()
    # The JSON Schema of one entry of its estate section (`selfheal schema` adds the section for editors); None: any
    # mapping (the kind's `load` still checks every field).
    entry_schema: ClassVar[dict[str, Any] | None] = None
    # Error codes that mean another run already did this operation (success, not failure).
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {}

    # --- the estate file ----------------------------------------------------------------------------------------

    def load(self, parser: EstateParser, raw: Any, path: str, region: str) -> SpecT:
        """One entry of the kind's estate section as a frozen spec; `parser.fail(...)` for a bad field."""
        raise NotImplementedError(f"kind {self.name} has no estate section of its own")

    # --- one run ------------------------------------------------------------------------------------------------

    def prefetch(self, ctx: RunContext, specs: Sequence[SpecT]) -> None:
        """Start the shared reads this kind's plans will wait for (ctx.start), before any resource is observed."""

    def observe(self, ctx: RunContext, spec: SpecT) -> StateT:
        """Read what exists (read-only calls)."""
        raise NotImplementedError

    def plan(self, ctx: RunContext, spec: SpecT, state: StateT) -> ResourcePlan:
        """What differs and what to do about it (pure apart from ctx's shared facts)."""
        raise NotImplementedError

    def observe_again(self, ctx: RunContext, spec: SpecT) -> StateT:
        """Read a resource this run just created, restored or changed, once AWS lets it be read (wait if needed)."""
        return self.observe(ctx, spec)

    def progress_rounds(self, spec: SpecT) -> int:
        """How often a run may look again at AWS's slow work it started (one index build after another)."""
        return 0

    def finish(self, ctx: RunContext, results: Sequence[ResourceResult]) -> None:
        """After every resource of the run: what concerns all of this kind's results (a shared fact not read)."""

    def applied_details(self, ctx: RunContext, spec: SpecT, outcome: Outcome) -> dict[str, Any]:
        """Facts for the message after a heal (a restored table's item count)."""
        return {}

    # --- showing it ---------------------------------------------------------------------------------------------

    def details(self, spec: SpecT, state: StateT | None) -> dict[str, Any]:
        """Facts for `status`: what a person looks at first; keys are the columns' `detail`."""
        return {}

    # --- the executor -------------------------------------------------------------------------------------------

    def target(self, step: Step) -> str:
        """The resource a step acts on, as a person reads it ("table galerly-users")."""
        params = step.params
        name = next((str(params[k]) for k in ("Name", "TableName", "Bucket") if k in params), "?")
        return f"{self.name} {name}"

    def wait(self, client: Any, step: Step, waits: Waits, deadline: Deadline) -> None:
        """Carry out a wait step (operation `wait_*`): return when done, raise Deferred or StepFailed."""
        raise NotImplementedError(f"kind {self.name} has no wait {step.operation}")

    def raced(self, client: Any, step: Step, code: str, exc: Exception) -> str | None:
        """A write refused because another run got there first: a note if that is success, else None."""
        if code in self.already_done.get(step.operation, frozenset()):
            return f"{self.target(step)} already existed: another run created it first"
        return None

    def before_retry(self, client: Any, step: Step, code: str, waits: Waits, deadline: Deadline) -> None:
        """Before a refused write is tried again (RETRY_LATER): wait for what refused it, if it can be waited for."""
