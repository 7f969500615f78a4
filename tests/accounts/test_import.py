"""Bulk import of operators: what the report says, what is written, and what is audited."""

import hashlib

import pytest
from sqlalchemy import event

from portal.errors import InvalidDocument

ALICE = "alice,Alice Wong,alice@example.cn,+86 138-0000-0001,north,agent,enabled"
BOB = "bob,Bob Li,bob@example.cn,13800000002,south,agent;supervisor,active"
CAROL = "carol,,,,,,disabled"


def test_dry_run_reports_each_line_and_changes_nothing(run_import, csv_text, operators, audit_rows):
    report = run_import(csv_text(ALICE, BOB, CAROL))
    assert not report.applied
    assert [(line.line, line.username, line.action) for line in report.lines] == [
        (2, "alice", "create"), (3, "bob", "create"), (4, "carol", "create")]
    assert {c.attribute: c.after for c in report.lines[1].changes} == {
        "display_name": "Bob Li", "email": "bob@example.cn", "phone": "13800000002", "region": "south",
        "enabled": True, "roles": ["agent", "supervisor"]}
    assert report.summary.text() == "3 to create, 0 to update, 0 unchanged, 0 errors"
    assert operators() == {}
    [dry] = audit_rows()
    assert dry.action == "user.import_dry_run" and dry.actor == "tester"
    assert (dry.details["create"], dry.details["error"]) == (3, 0)


def test_apply_creates_operators_without_passwords_and_audits(run_import, csv_text, operators, audit_rows):
    data = csv_text(ALICE, BOB, CAROL)
    report = run_import(data, apply=True)
    assert report.applied and report.outcome() == "applied"
    stored = operators()
    assert stored["alice"] == {"display_name": "Alice Wong", "email": "alice@example.cn",
                               "phone": "+86 138-0000-0001", "region": "north", "enabled": True,
                               "roles": ["agent"], "password_hash": None}
    assert stored["bob"]["roles"] == ["agent", "supervisor"]
    assert stored["carol"]["enabled"] is False and stored["carol"]["roles"] == []

    rows = audit_rows()
    assert [(row.action, row.target) for row in rows] == [
        ("user.create", "alice"), ("user.create", "bob"), ("user.create", "carol"), ("user.import", "operators.csv")]
    assert rows[1].details["after"]["roles"] == ["agent", "supervisor"] and rows[1].details["line"] == 3
    summary = rows[-1].details
    assert summary["file_sha256"] == hashlib.sha256(data.encode()).hexdigest()
    assert (summary["create"], summary["update"], summary["unchanged"], summary["error"]) == (3, 0, 0, 0)


def test_applying_the_same_file_twice_changes_nothing_the_second_time(run_import, csv_text, operators, audit_rows):
    data = csv_text(ALICE, BOB, CAROL)
    run_import(data, apply=True)
    first = operators()
    report = run_import(data, apply=True)
    assert report.applied and {line.action for line in report.lines} == {"unchanged"}
    assert report.summary.text() == "0 to create, 0 to update, 3 unchanged, 0 errors"
    assert operators() == first
    assert [row.action for row in audit_rows()][-1:] == ["user.import"]
    assert sum(row.action in ("user.create", "user.update") for row in audit_rows()) == 3  # from the first run


def test_update_reports_before_and_after_and_never_touches_passwords(
        run_import, csv_text, operators, audit_rows, make_user, db):
    user = make_user("dave", "agent")
    password_hash, epoch = user.password_hash, user.session_epoch
    report = run_import(csv_text("DAVE,Dave Zhou,dave@example.cn,,east,agent|supervisor,disabled"), apply=True)
    [line] = report.lines
    assert (line.action, line.username) == ("update", "dave")
    assert [(c.attribute, c.before, c.after) for c in line.changes] == [
        ("display_name", "", "Dave Zhou"), ("email", None, "dave@example.cn"), ("region", None, "east"),
        ("enabled", True, False), ("roles", ["agent"], ["agent", "supervisor"])]
    stored = operators()["dave"]
    assert stored["password_hash"] == password_hash and stored["enabled"] is False
    db.refresh(user)
    assert user.session_epoch == epoch + 1  # a disabled operator's open sessions end
    [update] = audit_rows("user.update")
    assert update.target == "dave"
    assert update.details["before"] == {"display_name": "", "email": None, "region": None, "enabled": True,
                                        "roles": ["agent"]}
    assert update.details["after"]["roles"] == ["agent", "supervisor"]


def test_operators_not_in_the_file_and_columns_not_in_the_file_are_left_alone(
        run_import, csv_text, operators, make_user, db):
    make_user("erin", "auditor")
    frank = make_user("frank", "agent")
    frank.email, frank.region = "frank@example.cn", "west"
    db.commit()
    # Column order is free, and a file without email/region columns leaves those as they are.
    report = run_import(csv_text("agent;supervisor,Frank", header="roles,username"), apply=True)
    assert report.lines[0].action == "update"
    assert [c.attribute for c in report.lines[0].changes] == ["roles"]
    stored = operators()
    assert stored["frank"]["email"] == "frank@example.cn" and stored["frank"]["region"] == "west"
    assert stored["erin"]["roles"] == ["auditor"] and stored["erin"]["enabled"] is True


@pytest.mark.parametrize(("line", "reason"), [
    ("Bad Name,,,,,agent,enabled", "username 'Bad Name' must be 2-64 characters"),
    ("x,,,,,agent,enabled", "username 'x' must be 2-64 characters"),
    ("gina,,gina.example.cn,,,agent,enabled", "e-mail 'gina.example.cn' is not an address"),
    ("gina,,,138-0000-abc,,agent,enabled", "phone '138-0000-abc' may hold only digits, spaces, dashes"),
    ("gina,,,,,wizard,enabled", "unknown role or legacy name 'wizard'"),
    ("gina,,,,,agent,maybe", "status 'maybe' is not enabled/disabled"),
    ("gina,,,,,agent,", "status '' is not enabled/disabled"),
    ("gina,,,,,,enabled", "an enabled operator needs at least one role"),
    ("gina,,,,,agent", "expected 7 values, found 6"),
    ("gina," + "x" * 201 + ",,,,agent,enabled", "name is longer than 200 characters"),
])
def test_each_kind_of_bad_line_is_reported_by_its_number(run_import, csv_text, line, reason):
    report = run_import(csv_text(ALICE, line, BOB))
    assert [(entry.line, entry.action) for entry in report.lines] == [(2, "create"), (3, "error"), (4, "create")]
    assert any(reason in error for error in report.lines[1].errors), report.lines[1].errors
    assert report.summary.error == 1


def test_a_line_collects_every_reason_and_a_later_duplicate_is_the_error(run_import, csv_text):
    report = run_import(csv_text(ALICE, "hank,,no-at,12ab,,ghost,on", BOB, "Alice,Other,,,,agent,enabled"))
    hank, alice_again = report.lines[1], report.lines[3]
    assert len(hank.errors) == 4  # e-mail, phone, status, role
    assert report.lines[0].action == "create"
    assert (alice_again.line, alice_again.action) == (5, "error")
    assert alice_again.errors == ("username 'alice' already appears on line 2",)


def test_line_numbers_count_physical_lines_of_the_file(run_import, csv_text):
    # A quoted value may hold a line break; blank lines are skipped but still counted.
    text = csv_text('ivan,"Ivan\nthe second",,,,agent,enabled', "", "judy,,bad-mail,,,agent,enabled")
    report = run_import(text)
    assert [(line.line, line.action) for line in report.lines] == [(2, "create"), (5, "error")]


def test_apply_with_a_bad_line_writes_nothing(run_import, csv_text, operators, audit_rows, make_user):
    make_user("dave", "agent")
    before = operators()
    report = run_import(csv_text(ALICE, "dave,Dave,,,,supervisor,enabled", "kate,,,,,wizard,enabled"), apply=True)
    assert not report.applied
    assert report.outcome() == "nothing applied: 1 error"
    assert operators() == before  # neither the new alice nor dave's new role
    [refused] = audit_rows("user.import")
    assert refused.outcome == "refused" and refused.details["error"] == 1
    assert not audit_rows("user.create") and not audit_rows("user.update")


def test_gbk_file_from_a_chinese_legacy_system(run_import, csv_text, operators):
    text = csv_text("wangwei,王伟,wangwei@example.cn,13800000003,华北,agent,启用",
                    "lina,李娜,,,华南,agent,停用")
    data = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really GBK, not UTF-8 in disguise
    report = run_import(data, apply=True)
    assert report.encoding == "gbk" and report.applied
    stored = operators()
    assert stored["wangwei"]["display_name"] == "王伟" and stored["wangwei"]["region"] == "华北"
    assert stored["lina"]["enabled"] is False


def test_utf8_with_a_byte_order_mark(run_import, csv_text, operators):
    report = run_import(b"\xef\xbb\xbf" + csv_text("zhaolei,赵磊,,,,agent,1").encode("utf-8"), apply=True)
    assert report.encoding == "utf-8" and report.applied
    assert operators()["zhaolei"]["display_name"] == "赵磊"


def test_explicit_encoding_overrides_detection_and_names_the_bad_line(run_import, csv_text):
    data = csv_text(ALICE, "lina,李娜,,,,agent,启用").encode("gbk")
    with pytest.raises(InvalidDocument) as caught:
        run_import(data, encoding="utf-8")
    assert caught.value.key == "file" and "line 3: not UTF-8 text" in caught.value.reason
    assert run_import(data, encoding="gbk").encoding == "gbk"


def test_neither_utf8_nor_gbk_is_a_clear_error(run_import, csv_text):
    data = csv_text(ALICE).encode() + b"zed,\x80\xff\xfe,,,,agent,1\n"
    with pytest.raises(InvalidDocument, match="line 3: not UTF-8 or GBK text"):
        run_import(data)


def test_legacy_names_are_mapped_through_a_csv_mapping(run_import, csv_text, operators):
    mapping = "legacy,role\nCSR,agent\n客服班长,agent\n客服班长,supervisor\nQA_GROUP,Auditor|agent\n"
    text = csv_text("mike,,,,,csr,enabled", "nina,,,,,客服班长,enabled", "olga,,,,,QA_GROUP;admin,enabled")
    report = run_import(text, apply=True, mapping=mapping)
    assert report.applied
    stored = operators()
    assert stored["mike"]["roles"] == ["agent"]  # legacy names match regardless of case
    assert stored["nina"]["roles"] == ["agent", "supervisor"]  # one legacy name, several roles
    assert stored["olga"]["roles"] == ["admin", "agent", "auditor"]  # mapped and portal names together


def test_legacy_names_are_mapped_through_a_toml_mapping(run_import, csv_text, operators):
    mapping = '[roles]\nCSR = "agent"\n"客服班长" = ["agent", "supervisor"]\n'
    report = run_import(csv_text("nina,,,,,客服班长|CSR,enabled"), apply=True, mapping=mapping,
                        mapping_filename="roles.toml")
    assert report.applied and operators()["nina"]["roles"] == ["agent", "supervisor"]


def test_unknown_legacy_name_names_its_line(run_import, csv_text):
    report = run_import(csv_text("mike,,,,,CSR,enabled", "pete,,,,,OLD_BOSS_ADMIN,enabled"), mapping="CSR,agent\n")
    assert report.lines[0].action == "create"
    assert report.lines[1].line == 3 and report.lines[1].errors == ("unknown role or legacy name 'OLD_BOSS_ADMIN'",)


@pytest.mark.parametrize(("mapping", "filename", "reason"), [
    ("CSR,wizard\n", "mapping.csv", "'csr' maps to unknown role(s) wizard"),
    ("CSR,\n", "mapping.csv", "line 1: expected two values"),
    ("CSR\n", "mapping.csv", "line 1: expected two values"),
    ("[roles]\nCSR = 3\n", "mapping.toml", "roles.CSR: a role name or a list"),
    ("[groups]\nCSR = 'agent'\n", "mapping.toml", "a [roles] table is required"),
    ("[roles\n", "mapping.toml", "not valid TOML"),
])
def test_a_bad_mapping_file_is_refused_as_a_whole(run_import, csv_text, mapping, filename, reason):
    with pytest.raises(InvalidDocument) as caught:
        run_import(csv_text("mike,,,,,CSR,enabled"), mapping=mapping, mapping_filename=filename)
    assert caught.value.key == "mapping" and reason in caught.value.reason


@pytest.mark.parametrize(("text", "reason"), [
    ("username,name,login,colour\nalice,,,\n", "line 1: unknown column(s) 'login', 'colour'"),
    ("name,roles\nAlice,agent\n", "required column(s) missing: username"),
    ("alice,Alice,,,,agent,enabled\n", "unknown column(s) 'alice'"),
    ("username,roles,Username\n", "column(s) named twice: username"),
    ("\n\n", "the file is empty"),
])
def test_header_problems_refuse_the_file(run_import, text, reason):
    with pytest.raises(InvalidDocument) as caught:
        run_import(text)
    assert caught.value.key == "file" and reason in caught.value.reason


@pytest.mark.parametrize(("status", "enabled"), [
    ("enabled", True), ("Active", True), ("1", True), ("启用", True),
    ("disabled", False), ("INACTIVE", False), ("0", False), ("停用", False)])
def test_status_spellings_of_legacy_exports(run_import, csv_text, operators, status, enabled):
    run_import(csv_text(f"quinn,,,,,agent,{status}"), apply=True)
    assert operators()["quinn"]["enabled"] is enabled


def test_the_last_administrator_cannot_be_imported_away(run_import, csv_text, operators, make_user):
    make_user("root", "admin")
    report = run_import(csv_text("root,,,,,admin,disabled"), apply=True)
    assert not report.applied
    assert "would leave no enabled administrator" in report.lines[0].errors[0]
    assert operators()["root"]["enabled"] is True
    # With another admin in the same file, it is fine.
    report = run_import(csv_text("root,,,,,agent,enabled", "rita,,,,,admin,enabled"), apply=True)
    assert report.applied and operators()["root"]["roles"] == ["agent"]


def test_queries_do_not_grow_with_the_number_of_lines(app, run_import, csv_text, make_user):
    make_user("root", "admin")
    engine = app.extensions["portal.db"].engine

    def statements(count: int, apply: bool, changed: bool = False) -> int:
        seen: list[str] = []

        def listener(_conn, _cursor, statement, *_args) -> None:
            # Audit rows go through portal.audit.record one event each (the log's own rules), and
            # SQLite's ORM flush inserts them row by row; everything else must be bulk.
            if not statement.startswith("INSERT INTO audit_events"):
                seen.append(statement)

        def lines(region: str, roles: str, status: str = "enabled") -> list[str]:
            return [f"user{count}x{i:04d},Name {i},u{i}@example.cn,,{region},{roles},{status}" for i in range(count)]

        if changed:  # the operators exist; the counted import updates region, roles and status
            run_import(csv_text(*lines("north", "agent|supervisor")), apply=True)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            text = csv_text(*lines("south", "agent|auditor", "disabled" if changed else "enabled"))
            assert run_import(text, apply=apply).summary.error == 0
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    assert statements(10, apply=False) == statements(300, apply=False)
    assert statements(11, apply=True) == statements(1500, apply=True)
    assert statements(12, apply=True, changed=True) == statements(1501, apply=True, changed=True)
