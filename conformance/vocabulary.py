"""The words every part of the suite uses for a check: which quantity it compares
(``Quantity``), what came of it (``Verdict``: how bad, and whether it is a finding), and
which check it is (``CheckKey``: the id made from its fields and parsed back into them).

Reports, the regression gates, the reproducers and the pytest front end read these words
from here rather than restating them; the JSON report spells each as its ``value``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from adapters.calls import DEVICES, DTYPES, Wrt


class Quantity(str, Enum):
    """What a check compares: the loss, or one of its derivatives."""

    VALUE = "value"
    """The loss."""
    GRAD = "grad"
    """d loss / d input."""
    TARGET_GRAD = "target_grad"
    """d loss / d target."""
    GRAD2 = "grad2"
    """d2 loss / d input2, against the exact p (1 - p) (on logits only)."""

    def __str__(self) -> str:
        return self.value

    @property
    def grad(self) -> bool:
        """A derivative rather than the loss itself."""
        return self is not Quantity.VALUE

    @property
    def wrt(self) -> Wrt:
        """What a derivative is taken with respect to (the input, for the loss itself)."""
        return "target" if self is Quantity.TARGET_GRAD else "input"

    @property
    def order(self) -> int:
        """1, or 2 for the second derivative."""
        return 2 if self is Quantity.GRAD2 else 1

    @property
    def id_suffix(self) -> str:
        """What a check id ends with after its reduction: nothing for the loss."""
        return "" if self is Quantity.VALUE else f":{self.value}"

    def checked(self, form: str, reduction: str, expects_error: bool) -> bool:
        """Whether a case of ``form`` is checked for this quantity under ``reduction``.

        The loss and the input gradient always are. The target gradient and the second
        derivative are checked for reductions none and mean only: for sum each is the none
        check's quantity (an unreduced loss's derivative is that of its sum), and leaving
        them out keeps the matrix smaller where it adds no mathematics. The second
        derivative is checked on logits only (on probabilities the frameworks' clips and
        floors make it a convention of their own), and not on invalid input (``expects_error``),
        where the value and the gradient already say what the API does."""
        if self in (Quantity.TARGET_GRAD, Quantity.GRAD2) and reduction == "sum":
            return False
        return self is not Quantity.GRAD2 or (form == "logits" and not expects_error)


class Verdict(str, Enum):
    """What came of a check (``conformance/engine/verdicts.py`` says when each is given)."""

    PASS = "pass"
    CONVENTION = "convention"
    ACCEPTS_INVALID = "accepts_invalid"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"

    def __str__(self) -> str:
        return self.value

    @property
    def ran(self) -> bool:
        """The check ran (every verdict but skip)."""
        return self is not Verdict.SKIP

    @property
    def conforms(self) -> bool:
        """The mathematics, or the adapter's declared conventions (pass, convention)."""
        return self in (Verdict.PASS, Verdict.CONVENTION)

    @property
    def failed(self) -> bool:
        """A wrong value or a wrong raise (fail, error): a finding unless a known bug
        explains it (``is_finding``)."""
        return self in (Verdict.FAIL, Verdict.ERROR)

    @property
    def rank(self) -> int | None:
        """Worse is higher: pass 0; convention and accepts_invalid 1; fail and error 2.
        A skip has no rank (a check that became a skip is neither better nor worse)."""
        return _RANKS.get(self)

    def is_finding(self, explained: bool) -> bool:
        """A fail or error that no known bug explains: what a person must look at."""
        return self.failed and not explained


_RANKS = {
    Verdict.PASS: 0,
    Verdict.CONVENTION: 1,
    Verdict.ACCEPTS_INVALID: 1,
    Verdict.FAIL: 2,
    Verdict.ERROR: 2,
}


class CheckIdError(ValueError):
    """A string that is not the id of a check of any adapter known here."""


@dataclass(frozen=True)
class CheckKey:
    """Which check: adapter, device, dtype, case, reduction and quantity. Its id (``str``)
    reads as a sentence, ``adapter-device-dtype-case:reduction[:grad|:target_grad|:grad2]``,
    and ``parse`` turns an id back into the key."""

    adapter: str
    device: str
    dtype: str
    case: str
    reduction: str
    quantity: Quantity = Quantity.VALUE

    def __str__(self) -> str:
        return f"{self.where}-{self.case}:{self.reduction}{self.quantity.id_suffix}"

    @property
    def where(self) -> str:
        """``adapter-device-dtype``: how every id of this adapter on this device and dtype
        begins."""
        return f"{self.adapter}-{self.device}-{self.dtype}"

    def fields(self) -> dict[str, str]:
        """The key as the report's check records and the known-bug registry name it."""
        return {
            "adapter": self.adapter,
            "device": self.device,
            "dtype": self.dtype,
            "case": self.case,
            "reduction": self.reduction,
            "quantity": self.quantity.value,
        }

    @classmethod
    def parse(cls, check_id: str, adapter_names: Iterable[str]) -> CheckKey:
        """The key an id names. Adapter names hold '-' and '.', so the id is matched
        against ``adapter_names``, longest first, followed by a known device and dtype;
        CheckIdError where none fits."""
        rest, quantity = check_id, Quantity.VALUE
        for candidate in Quantity:
            if candidate.id_suffix and check_id.endswith(candidate.id_suffix):
                rest, quantity = check_id[: -len(candidate.id_suffix)], candidate
        rest, _, reduction = rest.rpartition(":")
        for name in sorted(adapter_names, key=len, reverse=True):
            if not rest.startswith(name + "-"):
                continue
            device, _, after_device = rest[len(name) + 1 :].partition("-")
            dtype, _, case = after_device.partition("-")
            if device in DEVICES and dtype in DTYPES:
                return cls(name, device, dtype, case, reduction, quantity)
        raise CheckIdError(
            f"{check_id}: names no adapter known here (see bce-conformance adapters)"
        )
