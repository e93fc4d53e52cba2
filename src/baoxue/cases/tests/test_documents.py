"""Word documents for a case: each notice from the bundled template, a township's own template
winning over it, a broken template refused with a message that names the file, the whole
一人一案 file, and no full ID number in anything generated."""

from __future__ import annotations

import zipfile
from datetime import date, timedelta
from io import BytesIO

import docx
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from baoxue.cases import documents
from baoxue.cases.models import Case, EscalationDocument, FollowUp
from baoxue.cases.services import attempt_record
from baoxue.cases.workflow import assign


@pytest.fixture
def case(world):
    return Case.objects.create(
        child=world.child("吴俊辉"),
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.PERSUADING,
        township=world.township,
        village=world.village_a,
        school=world.school_x,
        began_on=date(2026, 9, 1),
        reasons=["work", "family"],
    )


def text_of(data: bytes) -> str:
    """All the text a reader sees: body paragraphs and every table cell."""
    document = docx.Document(BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def xml_of(data: bytes) -> str:
    """Every part of the package, properties included."""
    with zipfile.ZipFile(BytesIO(data)) as package:
        return "".join(package.read(name).decode("utf-8", "replace") for name in package.namelist())


def issue(case, kind, **extra):
    fields = {
        "number": "培政通〔2026〕3号",
        "issuer": "培秀苗族乡人民政府",
        "issued_on": date(2026, 10, 8),
        "deadline": date(2026, 10, 15),
    }
    return EscalationDocument.objects.create(case=case, kind=kind, **(fields | extra))


@pytest.mark.parametrize("kind", list(documents.NOTICE_KINDS))
def test_each_notice_fills_the_bundled_template(case, kind):
    issue(case, "penalty", number="培政罚〔2026〕1号", issued_on=date(2026, 10, 1))
    document = issue(case, kind)

    text = text_of(documents.render_notice(case, kind, document))

    assert "吴俊辉" in text and "吴老大" in text
    assert "2026年10月15日" in text  # the deadline
    assert "培政通〔2026〕3号" in text and "2026年10月8日" in text
    assert "{{" not in text and "{%" not in text
    if kind == "demand":
        assert "培政罚〔2026〕1号" in text
    if kind == "school_report":
        assert "三年级1班" in text and "外出务工、家庭原因" in text
        assert "培秀苗族乡人民政府、融水苗族自治县教育局" in text


def test_a_notice_without_a_document_leaves_blanks_for_the_hand(case):
    context = documents.notice_context(case, "return_notice")

    assert context["document_number"] == "" and context["issuer"] == ""
    assert context["deadline"] == "　　年　　月　　日"
    assert context["signer"] == "培秀苗族乡人民政府"
    assert context["guardian_phone"] == "13800000001"
    assert context["home_place"] == "乌岭村上寨屯"
    assert context["child_description"] == "男，2016年5月2日出生，苗族"
    assert context["began_on"] == "2026年9月"
    assert "义务教育法》第五条、第十四条、第五十八条" in context["legal_basis"]
    assert "吴俊辉" in text_of(documents.render_notice(case, "return_notice"))


def write_template(path, *paragraphs):
    path.parent.mkdir(parents=True, exist_ok=True)
    template = docx.Document()
    for text in paragraphs:
        template.add_paragraph(text)
    template.save(str(path))


def test_a_township_template_wins_over_the_bundled_one(case, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    own = tmp_path / "templates" / "notices" / "return_notice.docx"
    write_template(
        own,
        "乡镇自拟通知：{{ guardian_name }}，请送{{ child_name }}于{{ deadline }}前返校。",
        "{{ signer }}",
    )
    # Autoescaped: what people type cannot break the document's XML.
    document = issue(case, "return_notice", issuer="培秀乡<控辍办>&教育站")

    assert documents.template_path("return_notice") == own
    assert documents.template_path("demand").parent == documents.BUNDLED_TEMPLATES
    # A township's own folder comes before the installation's.
    township_own = own.parent / "450225212000" / "return_notice.docx"
    township_own.parent.mkdir()
    township_own.write_bytes(own.read_bytes())
    assert documents.template_path("return_notice", "450225212000") == township_own
    assert documents.template_path("return_notice", "450225213000") == own
    text = text_of(documents.render_notice(case, "return_notice", document))
    assert text.strip() == (
        "乡镇自拟通知：吴老大，请送吴俊辉于2026年10月15日前返校。\n培秀乡<控辍办>&教育站"
    )


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ("{{ child_name ", "没有写完整"),
        ("{% if school %}没有结束", "没有写完整"),
        ("{{ child_nme }}", "系统不认识的占位符（'child_nme' is undefined）"),
    ],
)
def test_a_broken_township_template_is_refused_naming_the_file(
    case, settings, tmp_path, broken, problem
):
    settings.DATA_DIR = tmp_path
    write_template(tmp_path / "templates" / "notices" / "order_notice.docx", broken)

    with pytest.raises(ValidationError) as raised:
        documents.render_notice(case, "order_notice")

    message = raised.value.messages[0]
    assert message.startswith("文书模板“templates/notices/order_notice.docx”有错误")
    assert problem in message and "删除该文件" in message


def test_a_file_that_is_not_a_word_document_is_refused(case, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    own = tmp_path / "templates" / "notices" / "demand.docx"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"not a zip")

    with pytest.raises(ValidationError, match=r"demand\.docx.*不是有效的 Word"):
        documents.render_notice(case, "demand")


def test_a_template_cannot_reach_python_internals(case, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    write_template(
        tmp_path / "templates" / "notices" / "demand.docx",
        "{{ child_name.__class__.__mro__[1].__subclasses__() }}",
    )

    with pytest.raises(ValidationError, match="不允许使用的写法"):
        documents.render_notice(case, "demand")


def test_unknown_kind_has_no_template(case):
    with pytest.raises(ValueError):
        documents.template_path("penalty")
    with pytest.raises(ValueError):
        documents.notice_context(case, "court_filing")


@pytest.fixture
def worked_case(case, persona):
    office = persona("office")
    assign(
        actor=office,
        case=case,
        line="government",
        level=2,
        name="梁乡干",
        role="副乡长",
        unit="培秀苗族乡人民政府",
        phone="13900000002",
    )
    assign(actor=office, case=case, line="government", level=2, name="韦接任", phone="139")
    assign(actor=office, case=case, line="education", level=3, name="莫班主任", phone="13900000003")
    attempt_record(
        actor=office,
        case=case,
        data={
            "attempted_on": str(timezone.localdate() - timedelta(days=7)),  # not in the future
            "method": "home_visit",
            "people": "梁乡干 13900000002",
            "met": "吴老大",
            "said": "家长担心学费，答应下周送孩子返校。身份证号 " + case.child.id_number,
            "offered": "落实生活补助",
            "result": "agreed",
            "next_step": "周一到校核实",
            "next_date": "2026-10-12",
        },
    )
    issue(case, "school_report", number="培秀小〔2026〕5号", issuer="培秀苗族乡中心小学")
    FollowUp.objects.create(
        case=case, due_on=date(2026, 10, 20), done_on=date(2026, 10, 21), attendance="normal"
    )
    Case.objects.filter(pk=case.pk).update(measures=["subsidy", "boarding"], plan_note="寄宿")
    case.refresh_from_db()
    return case


def test_the_case_file_has_every_section(worked_case, django_assert_num_queries):
    # One query per kind of record (attachments included), however many rows the case has.
    with django_assert_num_queries(10):
        data = documents.case_file(worked_case)

    text = text_of(data)
    sections = [
        "控辍保学一人一案档案",
        "一、儿童基本情况",
        "二、案件概况",
        "三、双线四包责任人",
        "四、劝返记录",
        "五、法律文书",
        "六、帮扶方案",
        "七、安置情况",
        "八、跟踪记录",
        "九、销号",
        "十、办理经过",
    ]
    positions = [text.index(section) for section in sections]
    assert positions == sorted(positions)
    assert "吴俊辉" in text and "吴老大（父亲）" in text and "13800000001" in text
    assert "脱贫/监测户" in text  # the key-group tag
    assert "梁乡干" in text and "韦接任" in text and "莫班主任" in text  # history and current
    assert "乡镇干部包村" in text and "班主任包班" in text
    assert "家长担心学费，答应下周送孩子返校" in text and "落实生活补助" in text
    assert "培秀小〔2026〕5号" in text and "学校书面报告" in text
    assert "落实资助、安排寄宿" in text
    assert "外出务工、家庭原因" in text and "正常出勤" in text
    assert "落实包保责任人" in text and "劝返记录" in text


def test_no_generated_document_carries_the_full_id_number(worked_case):
    id_number = worked_case.child.id_number
    assert len(id_number) == 18
    generated = [documents.case_file(worked_case)] + [
        documents.render_notice(worked_case, kind, issue(worked_case, kind))
        for kind in documents.NOTICE_KINDS
    ]

    for data in generated:
        assert id_number not in xml_of(data)
    # What someone typed into a note is masked, not dropped.
    assert id_number[:6] + "*" * 12 in text_of(generated[0])
    assert id_number[-4:] not in text_of(generated[0])
