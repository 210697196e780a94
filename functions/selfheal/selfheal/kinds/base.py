"""What a kind of resource is: the one place that knows how to load, observe, plan, create, wait for, show, tell
of, delete and import it, which CloudTrail calls name it, how its service's errors read, what a deletion of one
would lose now (its recoverability) and how a restore drill of one goes.

The engine, the executor, the renderer, the CLI, change routing, the message, teardown and the importer know no kind by
name: they ask the registry (selfheal/kinds/__init__.py) for the kind of a spec, a step or a result. Adding a kind
touches:
  - one module with a `Kind` subclass and `register(...)` (the shipped kinds keep their state types in selfheal/state,
    their reads in selfheal/observe, their pure planning in selfheal/plan and their import in selfheal/importing, each
    a module of its own);
  - its `permissions`, `event_filters` and `rules` (the roles and the EventBridge rules `make build ESTATE=...`
    generates for an estate: devtools/buildapp.py), and the same in template.yaml, the shipped estate's stack
    (tests/unit/test_buildapp.py checks the two grant the same);
  - devtools/localaws.py: the local AWS's support for its service, where moto lacks something.
  - devtools/iam.py: the ARNs its calls are authorized against, when its service is new to the local IAM enforcer.
No generic module changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from ..apply.executor import Deadline, Waits
from ..aws import explain
from ..fields import Checker, Obj
from ..model import Change, Outcome, Recovery, ResourcePlan, ResourceResult, Step
from ..spec import Copy, Objective

if TYPE_CHECKING:
    from ..aws import Clients
    from ..context import RunContext
    from ..drill.base import KindDrill
    from ..importing import Section, Selection


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
# What a CloudTrail call comes to for a kind: the declared names it concerns, why it concerns none, or not its call.
Routed = tuple[str, ...] | str | None
WaitFn = Callable[[Any, Mapping[str, Any], Waits, Deadline], None]


@dataclass(frozen=True)
class Placed:
    """Where a stack finds declared resources, for their IAM statements and change-rule filters: a name, or a name
    pattern ending in `*` (the prefix the estate names them with), and its region, as CloudFormation Fn::Sub text
    (`${Prefix}-users`, `${AWS::Region}`: a deploy-time parameter or the stack's region; a literal otherwise)."""

    name: str
    region: str
    spec: Any = field(default=None, compare=False)  # the declared resource (None for a pattern)
    written: Mapping[str, Any] = field(default_factory=dict, compare=False)  # its entry, strings as Fn::Sub text
    members: tuple[Placed, ...] = field(default=(), compare=False)  # a pattern's declared resources

    @property
    def prefix(self) -> str | None:
        """The name's prefix when this is a pattern, else None."""
        return self.name[:-1] if self.name.endswith("*") else None

    @property
    def each(self) -> tuple[Placed, ...]:
        """The declared resources this stands for (itself, or a pattern's members): their own settings' statements."""
        return self.members or (self,)


# The roles a kind's statements go to: the function's own, and the one AWS Backup restores with (it only passes it).
FUNCTION_ROLE, RESTORE_ROLE = "function", "restore"
Permissions = Mapping[str, Sequence[Mapping[str, Any]]]  # role -> IAM statements (strings as Fn::Sub text)


def allow(sid: str, actions: str | list[str], resources: str | list[str]) -> dict[str, Any]:
    """One Allow statement (a single action or resource as a string, as the template writes it)."""
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


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
    spec_type: ClassVar[type]  # its specs' type: a spec of another type under its name is refused (kind_of)
    creates: ClassVar[tuple[str, ...]] = ()  # operations that bring a missing one into being (restores included)
    restores: ClassVar[tuple[str, ...]] = ()  # those of them that bring its data back from a copy
    aws_waits: ClassVar[tuple[str, ...]] = ()  # waits for AWS's own slow work (a restore): not this run's lateness
    columns: ClassVar[tuple[Column, ...]] = ()
    # One entry of its estate section, declared once (selfheal/fields.py): the editors' JSON Schema and the loader's
    # validation both come from it, and `load` is given an entry that passed it. None: `load` checks the entry itself.
    fields: ClassVar[Obj | None] = None
    # Shared defaults: a top-level mapping (named by its `name`) merged under every entry; `defaults_probe` completes
    # them into an entry, so they are checked on their own even where every entry overrides them.
    defaults: ClassVar[Obj | None] = None
    defaults_probe: ClassVar[Mapping[str, Any]] = {}
    # Without `fields`: the JSON Schema of one entry for editors; None: any mapping.
    entry_schema: ClassVar[dict[str, Any] | None] = None
    # Error codes that mean another run already did this operation (success, not failure).
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {}
    # Error codes of its service that AWS documents as "not now" (the resource is busy): retried with backoff. Never
    # a throttle or a 5xx: botocore's standard mode retries those, and a second layer multiplies the attempts.
    retry_later: ClassVar[frozenset[str]] = frozenset()
    # How a change's field paths read in a message's subject ("pitr" -> "PITR"); else the path's head, spaced.
    aspect_labels: ClassVar[Mapping[str, str]] = {}
    # How a copy of one of these is declared, for a recovery objective no copy meets ("declare pitr: true, ...").
    copy_fix: ClassVar[str] = "declare a copy of it"
    # CloudTrail: the EventBridge sources of its service ("aws.dynamodb") and the calls that can break one of them.
    event_sources: ClassVar[tuple[str, ...]] = ()
    events: ClassVar[frozenset[str]] = frozenset()

    # --- the estate file ----------------------------------------------------------------------------------------

    def load(self, parser: Checker, raw: Any, path: str, region: str) -> SpecT:
        """One entry of the kind's estate section as a frozen spec; `parser.fail(...)` for what its fields cannot
        say (one field against another, names compared). `region`: the entry's region when it gives none."""
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

    def recovery(self, ctx: RunContext, spec: SpecT, state: StateT) -> Recovery | None:
        """What a deletion now would lose, from what observe read (a further read only where that is not enough, and
        cheap): the latest restorable point and where from. None: the kind holds no data of its own."""
        return None

    # --- the recovery objective (`recovery: {window, rpo}`; selfheal/plan/objective.py judges) --------------------

    def objective(self, spec: SpecT) -> Objective | None:
        """The resource's declared recovery objective (None: it declares none, or the kind holds no data)."""
        return None

    def copies(self, spec: SpecT, target: Any) -> tuple[Copy, ...]:
        """The copies this declared resource keeps of `target` (a declared resource of any kind, itself included):
        its own PITR or versions, a backup plan's rules that select it."""
        return ()

    def after_apply(self, ctx: RunContext, spec: SpecT, state: StateT, plan: ResourcePlan,
                    found: tuple[Copy, ...]) -> tuple[tuple[Copy, ...], str]:
        """The copies once apply has carried out `plan` (`found`: those there now), and how apply gets them there
        ("apply switches PITR on, as declared")."""
        return found, ""

    def finish(self, ctx: RunContext, results: Sequence[ResourceResult]) -> None:
        """After every resource of the run: what concerns all of this kind's results (a shared fact not read)."""

    def applied_details(self, ctx: RunContext, spec: SpecT, outcome: Outcome) -> dict[str, Any]:
        """Facts for the message after a heal (a restored table's item count)."""
        return {}

    def restore_started(self, changes: Sequence[Change]) -> str:
        """The run's progress line for a restore it started (`changes`: what was done, the restore first)."""
        done = f" ({changes[0].new})" if changes else ""
        return f"restore started now{done}: AWS finishes it in its own time — its settings follow once it is done"

    def drill(self) -> KindDrill[Any] | None:
        """How a restore drill of one of these goes (`selfheal drill`, selfheal/drill): restore its newest copy under
        a scratch name, verify it, remove the scratch copy. None: the kind holds no data to drill."""
        return None

    # --- the stack's IAM and change rule (`make build ESTATE=...`: devtools/buildapp.py) ----------------------------

    def permissions(self, resources: Sequence[Placed]) -> Permissions:
        """The IAM statements its calls need on exactly these resources, by role (FUNCTION_ROLE, RESTORE_ROLE): each
        with a Sid, its Resource ARNs built from the names and regions given (never every resource of a service, but
        where its service has no resource type). Empty: the kind makes no call the role must allow."""
        return {}

    def event_filters(self, resources: Sequence[Placed]) -> list[dict[str, Any]]:
        """The change rule's `$or` alternatives matching CloudTrail records of its calls on these resources
        (EventBridge content filters: exact names, `{"prefix": ...}`, `{"wildcard": ...}`)."""
        return []

    def rules(self, resources: Sequence[Placed]) -> Mapping[str, Mapping[str, Any]]:
        """EventBridge rules of its own that invoke the function (its event name in template.yaml -> the rule's
        pattern) for these resources; a rule of template.yaml it does not return for an estate is left out."""
        return {}

    # --- change events (CloudTrail via EventBridge) ----------------------------------------------------------------

    def changed(self, event: str, params: Mapping[str, Any], specs: Sequence[SpecT]) -> Routed:
        """The declared resources (`specs`: this kind's) a CloudTrail call names by its requestParameters; a str: why
        it concerns none of them; None: not a call of this kind (another kind of the same service may take it)."""
        return None

    # --- the message ----------------------------------------------------------------------------------------------

    def facts(self, result: ResourceResult) -> str:
        """What a message's subject adds after a resource's name (" (1,234 items)"), from its result's details."""
        return ""

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

    def retryable(self, step: Step, code: str) -> bool:
        """Does this error code on this step mean "not now" (retried), not "no"?"""
        return code in self.retry_later or code in step.retry_codes

    def before_retry(self, client: Any, step: Step, code: str, waits: Waits, deadline: Deadline) -> None:
        """Before a refused write is tried again (retry_later): wait for what refused it, if it can be waited for."""

    def fix(self, code: str, operation: str, exc: BaseException) -> str | None:
        """How its service's error reads for a person who must act (None: the generic reading of aws.explain)."""
        return None

    def explain(self, exc: BaseException, operation: str, resource: str) -> str:
        """One line a person can act on: what failed on one of these, AWS's words, and the fix."""
        return explain(exc, operation, resource, self.fix)

    # --- teardown (`selfheal delete`, the CLI only) -------------------------------------------------------------------

    deletable: ClassVar[bool] = False  # `selfheal delete` deletes these (each after a copy is made); never, if False

    def delete(self, clients: Clients, spec: SpecT, unprotect: bool, waits: Waits, stamp: str,
               say: Callable[[str], None]) -> Deleted:
        """Keep a copy, then delete one of these (lifting its deletion protection only if `unprotect`)."""
        raise NotImplementedError(f"kind {self.name} is never deleted")

    # --- `selfheal import`: what exists, as entries of its estate section (selfheal/importer.py drives it) ---------

    importable: ClassVar[bool] = False  # `selfheal import --<name> NAME...` selects resources of this kind
    selects_by_prefix: ClassVar[bool] = False  # `--prefix P` selects its resources named P-*
    import_permissions: ClassVar[tuple[str, ...]] = ()  # the reads its import needs that the function's role lacks

    def import_check(self, selection: Selection) -> None:
        """The selection's own mistakes (a malformed flag value) as ImportProblem, before any AWS call."""

    def import_names(self, clients: Any, selection: Selection) -> list[str]:
        """The selected resources of this kind, in the order they are written; ImportProblem for one that does not
        exist."""
        return list(dict.fromkeys(selection.named(self.name)))

    def import_entries(self, clients: Any, selection: Selection, names: Sequence[str]) -> Section:
        """Read the named resources and declare them: entries with the defaults left out, `# found:` notes for what
        the estate cannot declare, the vars they name and the top-level defaults they share."""
        raise NotImplementedError(f"kind {self.name} has no import")


@dataclass
class Deleted:
    """What `selfheal delete` came to for one resource."""

    name: str
    outcome: Literal["deleted", "missing", "refused", "error"]
    backup: str = ""  # the copy kept before the delete: the next `selfheal apply` restores from it
    reason: str = ""
