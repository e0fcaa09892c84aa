"""`spec.readers` names analysts by certificate identity (mpc://analyst/ana) or by name (ana)."""

from __future__ import annotations

import pytest
from integration_helpers import scalar, submit_all

from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.errors import PermissionDenied
from mpcnode.federation import LocalFederation

pytestmark = pytest.mark.integration
VALUES = {"alice": [1], "bob": [2], "carlos": [3], "david": [4]}


def test_a_reader_given_as_its_identity_or_its_name_reads_and_no_one_else(
    fed4: LocalFederation,
) -> None:
    for dataset, readers in (("rd-uri", ("mpc://analyst/analyst",)), ("rd-name", ("analyst",))):
        submit_all(fed4, dataset, VALUES, scalar(dataset))
        spec = ComputationSpec("r", Kind.SUM, dataset, 0, 10_000, min_parties=3, readers=readers)
        with fed4.analyst() as analyst:
            assert analyst.run(spec).outputs["sum"].tolist() == [10]
    submit_all(fed4, "rd-other", VALUES, scalar("rd-other"))
    other = ComputationSpec(
        "o", Kind.SUM, "rd-other", 0, 10_000, min_parties=3, readers=("mpc://analyst/someone",)
    )
    with fed4.analyst() as analyst, pytest.raises(PermissionDenied, match="not among"):
        analyst.run(other)
