"""A node's side of a multi-step round (DESIGN 9): its program, sealed step by step.

The program (`mpcnode.protocols`) is a generator of exchanges; this object feeds it the
messages the coordinator relays, one step at a time, and seals what it sends. The checks a
relay can fail (the step number, one message from every other participant, each opening
under its direction's key, whole field elements) pass before the program sees any of them,
so a refused step changes nothing and can be sent again correctly. What only the sending
node could get wrong, inside a message that opens (the element count the program expects,
shares off their polynomial), the program refuses, and that ends the round: the generator
cannot be rewound. Under the passive model no node sends such a message.

Idempotent: the current step again with the same messages gets the same reply; other
messages for it are ALREADY_EXISTS.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mpcnode.core import field as gf
from mpcnode.core.randomness import RandomSource
from mpcnode.core.sealing import seal_context
from mpcnode.core.spec import ComputationSpec
from mpcnode.core.step_sealing import TAG_BYTES, open_step, seal_step, step_key
from mpcnode.errors import AlreadyExists, InvalidInput, MpcError, PreconditionFailed, shown
from mpcnode.protocols.engine import Exchange, Party, ProtocolError, Steps
from mpcnode.protocols.plan import node_input, program_for
from mpcnode.protocols.programs import run

log = logging.getLogger(__name__)
MAX_STEP_BYTES = 64 << 20  # per message; a program of 1000 parties sends far less


@dataclass(frozen=True)
class StepOutcome:
    """A step's reply: sealed messages by recipient, or the output shares once done."""

    step: int
    messages: dict[str, bytes] = field(default_factory=dict)
    done: bool = False
    output: bytes = b""


class StepRunner:
    """One round's program on this node, with the keys of every direction."""

    def __init__(
        self,
        party_id: str,
        participants: tuple[str, ...],
        transcript: bytes,
        spec: ComputationSpec,
        encoded: list[int],  # its value(s), encoded, with its noise share if any
        sent_seeds: Mapping[str, bytes],
        received_seeds: Mapping[str, bytes],
        rng: RandomSource,
    ) -> None:
        self._me = party_id
        self._order = sorted(participants)  # a party's index is its place here, from 1
        self._index = {p: i + 1 for i, p in enumerate(self._order)}
        self._send = {
            p: step_key(s, seal_context(transcript, party_id, p)) for p, s in sent_seeds.items()
        }
        self._receive = {
            p: step_key(s, seal_context(transcript, p, party_id)) for p, s in received_seeds.items()
        }
        party = Party(self._index[party_id], len(self._order), rng)
        self._program: Steps = run(
            program_for(spec, len(self._order)), party, node_input(spec, encoded)
        )
        self.step = 0
        self._last_request: dict[str, bytes] = {}
        self._last: StepOutcome | None = None
        self.broken = False

    def advance(self, step: int, messages: dict[str, bytes]) -> StepOutcome:
        """Step `step` with the messages of step - 1 (none for step 1). Blocking (CPU)."""
        if self._last is not None and step == self.step:
            if messages != self._last_request:
                raise AlreadyExists(
                    f"step {step} was already taken with other messages; a conflicting "
                    "repeat is refused"
                )
            return self._last
        if self.broken:
            raise PreconditionFailed("this round's computation failed on this node")
        if self._last is not None and self._last.done:
            raise PreconditionFailed(f"the computation ended at step {self.step}")
        if step != self.step + 1:
            raise PreconditionFailed(
                f"step {step} is out of order: this node expects step {self.step + 1}"
            )
        inbox = self._open(step, messages)
        try:
            exchange = next(self._program) if step == 1 else self._program.send(inbox)
        except StopIteration as finished:
            outcome = StepOutcome(step, done=True, output=gf.encode(finished.value))
        except ProtocolError as exc:
            self.broken = True
            culprit = self._order[exc.party - 1] if exc.party else ""
            raise PreconditionFailed(f"step {step}: {exc}", party=culprit) from None
        except Exception as exc:  # a bug: the log gets the traceback, the caller no value
            self.broken = True
            log.exception("step %d of a multi-step round failed", step)
            raise runner_error(exc) from None
        else:
            outcome = StepOutcome(step, self._seal(step, exchange))
        self.step, self._last_request, self._last = step, dict(messages), outcome
        return outcome

    def _open(self, step: int, messages: dict[str, bytes]) -> dict[int, list[int]]:
        if step == 1:
            if messages:
                raise InvalidInput("step 1 carries no messages")
            return {}
        expected = set(self._order) - {self._me}
        missing, extra = expected - set(messages), set(messages) - expected
        if missing or extra:
            raise InvalidInput(
                f"step {step} needs one message of step {step - 1} from each other "
                f"participant; missing: {', '.join(sorted(missing)) or 'none'}; not "
                f"expected: {', '.join(shown(e) for e in sorted(extra)[:5]) or 'none'}"
            )
        inbox = {}
        for sender, sealed in messages.items():
            if len(sealed) > MAX_STEP_BYTES or len(sealed) < TAG_BYTES:
                raise InvalidInput(f"the step {step - 1} message from {sender} has a bad size")
            plain = open_step(self._receive[sender], step - 1, sealed, sender)
            count, rest = divmod(len(plain), gf.ELEMENT_BYTES)
            if rest:
                raise InvalidInput(f"the message from {sender} is not whole field elements")
            inbox[self._index[sender]] = gf.decode(plain, count, f"the message from {sender}")
        return inbox

    def _seal(self, step: int, exchange: Exchange) -> dict[str, bytes]:
        out = {}
        for index, elements in exchange.outgoing.items():
            recipient = self._order[index - 1]
            aead: AESGCM = self._send[recipient]
            out[recipient] = seal_step(aead, step, gf.encode(elements))
        return out


def runner_error(exc: Exception) -> MpcError:
    """What a node reports when its program fails unexpectedly (never a value)."""
    return MpcError(f"the computation failed on this node ({type(exc).__name__}); see its log")
