"""Roles and the search policy: plate search needs an investigator, a reason and a case number."""

import pytest

from workbench.errors import AuditError, PermissionDenied
from workbench.governance.policy import SearchPolicy, authorize_search, require_justification
from workbench.governance.roles import Users, can, load_roles, require


def test_plate_search_needs_the_investigator_role():
    assert can("investigator", "plate_search") and can("admin", "plate_search")
    for role in ("analyst", "evaluator", "command", "oversight"):
        assert not can(role, "plate_search")
    with pytest.raises(PermissionDenied, match="needs the role admin, investigator"):
        require("analyst", "plate_search")


def test_investigator_inherits_analyst_permissions():
    roles = load_roles()
    assert roles.permissions_of("analyst") < roles.permissions_of("investigator")
    assert roles.permissions_of("admin") == frozenset(roles.permissions)


@pytest.mark.parametrize("reason", [None, "", "   ", "n/a", "x"])
def test_plate_search_without_a_reason_is_refused(reason):
    with pytest.raises(AuditError, match="reason"):
        require_justification("jdoe", reason, "25-001234", action="plate_search")


@pytest.mark.parametrize("user", [None, "", "  "])
def test_search_without_a_user_is_refused(user):
    with pytest.raises(AuditError, match="a user is required"):
        require_justification(user, "robbery follow-up", "25-001234")


def test_case_number_required_except_for_hotlist_checks():
    with pytest.raises(AuditError, match="case number is required"):
        require_justification("jdoe", "robbery follow-up", " ", action="plate_search")
    just = require_justification("jdoe", "stolen vehicle alert", None, action="hotlist_check")
    assert just.case_number is None and just.reason == "stolen vehicle alert"
    strict = SearchPolicy(case_number_optional_for=frozenset())
    with pytest.raises(AuditError):
        require_justification("jdoe", "stolen vehicle alert", None, strict, action="hotlist_check")


def test_agency_policy_from_yaml_keys_checks_format_and_reason_list():
    policy = SearchPolicy.from_dict({"case_number_pattern": r"\d{2}-\d{6}",
                                     "reasons": ["robbery", "homicide", "missing person"]})
    assert require_justification("jdoe", "Robbery", "25-001234", policy).reason == "Robbery"
    with pytest.raises(AuditError, match="does not match"):
        require_justification("jdoe", "robbery", "25-1", policy)
    with pytest.raises(AuditError, match="not one of"):
        require_justification("jdoe", "curiosity", "25-001234", policy)
    with pytest.raises(AuditError, match="unknown search policy keys"):
        SearchPolicy.from_dict({"require_resaon": False})


def test_authorize_search_checks_reason_before_role_and_role_from_users_file(tmp_path):
    users = Users()
    users.add("ana", "analyst", "pw", iterations=1000)
    users.add("ivan", "investigator", "pw", iterations=1000)
    users.save(tmp_path / "users.yaml")
    users = Users.load(tmp_path / "users.yaml")
    assert authorize_search("ivan", "robbery", "25-1", action="plate_search", users=users).role == "investigator"
    with pytest.raises(PermissionDenied, match="may not plate search"):
        authorize_search("ana", "robbery", "25-1", action="plate_search", users=users)
    with pytest.raises(AuditError):
        authorize_search("ivan", "", "25-1", action="plate_search", users=users)
    with pytest.raises(PermissionDenied, match="unknown user"):
        authorize_search("mallory", "robbery", "25-1", action="plate_search", users=users)


def test_users_file_authenticates_without_storing_passwords(tmp_path):
    users = Users()
    users.add("ivan", "investigator", "correct horse", iterations=1000)
    path = users.save(tmp_path / "users.yaml")
    assert "correct horse" not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = Users.load(path)
    assert loaded.authenticate("ivan", "correct horse").role == "investigator"
    assert loaded.authenticate("ivan", "wrong") is None and loaded.authenticate("nobody", "x") is None
    with pytest.raises(PermissionDenied, match="unknown role"):
        users.add("x", "superuser", "pw")


def test_override_file_replaces_a_role(tmp_path):
    override = tmp_path / "roles.yaml"
    override.write_text("roles:\n  analyst:\n    permissions: [view_hotspots, plate_search]\n")
    roles = load_roles(override)
    assert roles.grants("analyst", "plate_search") and not roles.grants("analyst", "view_live")
    assert roles.grants("investigator", "plate_search")  # untouched roles stay
    override.write_text("roles:\n  analyst:\n    permissions: [fly]\n")
    with pytest.raises(Exception, match="unknown permissions: fly"):
        load_roles(override)


def test_trajectory_plate_search_without_a_reason_is_refused_and_audited(tmp_path):
    import workbench
    from workbench.governance.audit import AuditLog
    from workbench.trajectories.search import search

    reads = workbench.load_sample().alpr_reads.head(5_000)
    plate = reads["plate"].iloc[0]
    log = AuditLog(tmp_path / "audit.jsonl")
    for reason in (None, "  "):
        with pytest.raises(AuditError, match="reason is required"):
            search(reads, plate=plate, user="ivan", reason=reason, case_number="25-1", role="investigator",
                   audit_log=log)
    with pytest.raises(PermissionDenied):
        search(reads, plate=plate, user="ana", reason="robbery", case_number="25-1", role="analyst", audit_log=log)
    found = search(reads, plate=plate, user="ivan", reason="robbery follow-up", case_number="25-1",
                   role="investigator", audit_log=log)
    records = log.records()
    assert len(records) == 4 and log.verify()
    assert records["result_count"].isna().sum() == 3  # the refusals are on record, with no results
    assert records.iloc[-1]["result_count"] == len(found) > 0
    assert records.iloc[-1]["reason"] == "robbery follow-up"


def test_a_broken_roles_file_is_one_plain_error(tmp_path):
    from workbench.errors import WorkbenchError

    bad = tmp_path / "roles.yaml"
    bad.write_text("roles: [unclosed\n")
    with pytest.raises(WorkbenchError, match="roles file .* is not valid YAML"):
        load_roles(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(WorkbenchError, match="must be a mapping with 'roles' and 'permissions'"):
        load_roles(bad)
