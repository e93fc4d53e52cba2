"""Build the bundled notice templates (src/baoxue/cases/notice_templates/*.docx).

    .venv/bin/python scripts/make_notice_templates.py

The generated files are committed: a township copies one to DATA_DIR/templates/notices/,
edits the wording in Word or WPS and keeps the {{ placeholders }} (baoxue.cases.documents lists
them). The wording lives here rather than behind gettext because it is the township's document,
edited by the township, not interface text; it follows the usual form of 公文 (GB/T 9704): A4,
仿宋 三号 body, 小标宋 or 宋体 title, 28-point line spacing.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

OUT = Path(__file__).resolve().parent.parent / "src" / "baoxue" / "cases" / "notice_templates"

BODY_FONT = "仿宋"
TITLE_FONT = "宋体"
LATIN_FONT = "Times New Roman"
BODY_SIZE = Pt(16)  # 三号
TITLE_SIZE = Pt(22)  # 二号
THEME_ATTRIBUTES = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")

# A blank line for a hand-written entry on the paper copy.
LINE = "＿＿＿＿＿＿＿＿"


def set_fonts(element: object, name: str) -> None:
    """The East Asian font as well as the Latin one: python-docx sets only the Latin one, and
    Word or WPS then draw Chinese in whatever the theme says."""
    rpr = element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.get_or_add_rFonts()
    for attribute in THEME_ATTRIBUTES:
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attribute), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), name)


def new_document(title: str) -> DocumentObject:
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    normal = document.styles["Normal"]
    set_fonts(normal.element, BODY_FONT)
    normal.font.size = BODY_SIZE
    spacing = normal.paragraph_format
    spacing.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    spacing.line_spacing = Pt(28)
    spacing.space_before = spacing.space_after = Pt(0)
    properties = document.core_properties
    properties.title = title
    properties.author = "Baoxue"
    properties.comments = ""
    properties.keywords = ""
    return document


def title(document: DocumentObject, text: str, size: Pt = TITLE_SIZE) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.space_after = Pt(16)
    paragraph.paragraph_format.line_spacing = Pt(size.pt + 12)
    run = paragraph.add_run(text)
    run.bold = True
    run.font.size = size
    set_fonts(run._r, TITLE_FONT)


def line(document: DocumentObject, text: str, *, align: str = "left", indent: bool = False) -> None:
    """One paragraph. Each placeholder must stay inside one run for docxtpl, so a paragraph is
    written as one run."""
    paragraph = document.add_paragraph()
    paragraph.alignment = {
        "left": WD_ALIGN_PARAGRAPH.LEFT,
        "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
        "right": WD_ALIGN_PARAGRAPH.RIGHT,
        "center": WD_ALIGN_PARAGRAPH.CENTER,
    }[align]
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(BODY_SIZE.pt * 2)
    paragraph.add_run(text)


def body(document: DocumentObject, paragraphs: Iterable[str]) -> None:
    for text in paragraphs:
        line(document, text, align="justify", indent=True)


def signature(document: DocumentObject, signer: str = "{{ signer }}") -> None:
    document.add_paragraph()
    line(document, f"{signer}（盖章）", align="right")
    line(document, "{{ issued_on }}", align="right")


def receipt(document: DocumentObject, what: str) -> None:
    """送达回证: the part the guardian signs and the server brings back to the file."""
    document.add_paragraph()
    line(document, "- - - - - - - - - - - - - - - - 沿此线裁开 - - - - - - - - - - - - - - - -")
    title(document, "送 达 回 证", size=Pt(18))
    line(document, f"送达文书：{what}　{{{{ document_number }}}}")
    line(document, "受送达人：{{ guardian_name }}（{{ child_name }}的{{ guardian_relation }}）")
    line(document, f"送达地点：{LINE}　　送达方式：{LINE}")
    line(document, f"送达人（签名）：{LINE}　　见证人（签名）：{LINE}")
    line(document, f"受送达人签收：{LINE}　　签收日期：　　年　　月　　日")
    line(document, "备注：受送达人拒绝签收的，由送达人注明情况并由见证人签名。")


CHILD = (
    "{{ child_name }}（{{ child_description }}），家住{{ home_place }}"
    "{% if school %}，原在{{ school }}{{ grade }}就读{% endif %}"
)
CONTACT = "联系人：{{ contact_name }}　　联系电话：{{ contact_phone }}"


def return_notice() -> DocumentObject:
    document = new_document("限期复学通知书")
    title(document, "限期复学通知书")
    line(document, "{{ document_number }}", align="center")
    line(document, "{{ guardian_name }}（{{ child_name }}的{{ guardian_relation }}）：")
    body(
        document,
        [
            "你的子女" + CHILD + "，自{{ began_on }}起未到校上学。学校、村民委员会和乡镇人民"
            "政府已多次上门了解情况、做劝返工作，{{ child_name }}至今仍未返校。",
            "{{ legal_basis }}，适龄儿童、少年的父母或者其他法定监护人应当依法保证其按时入学"
            "接受并完成义务教育，任何组织和个人不得招用应当接受义务教育的适龄儿童、少年。"
            "接受义务教育既是孩子的权利，也是监护人必须履行的法定义务。",
            "现通知你：请于{{ deadline }}前送{{ child_name }}到{{ return_school }}报到复学。"
            "孩子返校有困难的（如学习跟不上、家庭经济困难、需要寄宿等），请及时与我们联系，"
            "学校和乡镇将尽力提供资助、编班、寄宿和学业帮扶等帮助。",
            "逾期无正当理由仍不送子女复学的，将依照《中华人民共和国义务教育法》第五十八条等"
            "规定对你进行批评教育、责令限期改正，并依法追究相应的法律责任。",
            "特此通知。",
            CONTACT,
        ],
    )
    signature(document)
    receipt(document, "限期复学通知书")
    return document


def order_notice() -> DocumentObject:
    document = new_document("责令送被监护人接受义务教育通知书")
    title(document, "责令送被监护人接受义务教育通知书")
    line(document, "{{ document_number }}", align="center")
    line(document, "{{ guardian_name }}（{{ child_name }}的{{ guardian_relation }}）：")
    body(
        document,
        [
            "经查，你的被监护人" + CHILD + "，系义务教育阶段适龄儿童少年，自{{ began_on }}起"
            "未接受义务教育。本机关会同学校、村民委员会已多次对你进行劝导和批评教育，你至今"
            "仍未送其入学。{{ legal_basis }}，适龄儿童、少年的父母或者其他法定监护人应当依法"
            "保证其按时入学接受并完成义务教育，你的做法不符合上述规定。",
            "根据《中华人民共和国义务教育法》第五十八条的规定，现责令你于{{ deadline }}前送"
            "{{ child_name }}到{{ return_school }}报到入学，保证其接受并完成义务教育。",
            "如对本通知有异议，可在收到本通知之日起三日内向本机关陈述和申辩。"
            "逾期拒不改正的，本机关将依照有关法律法规的规定予以处理，"
            "由此产生的法律责任由你承担。",
            "特此通知。",
            CONTACT,
        ],
    )
    signature(document)
    receipt(document, "责令送被监护人接受义务教育通知书")
    return document


def demand() -> DocumentObject:
    document = new_document("催告书")
    title(document, "催　告　书")
    line(document, "{{ document_number }}", align="center")
    line(document, "{{ guardian_name }}（{{ child_name }}的{{ guardian_relation }}）：")
    body(
        document,
        [
            "本机关于{{ penalty_issued_on }}对你作出《行政处罚决定书》（{{ penalty_number }}），"
            "因你无正当理由未送被监护人{{ child_name }}接受义务教育，依法对你给予行政处罚，"
            "并责令你送{{ child_name }}入学。该决定书已依法送达，你在法定期限内未申请行政复议，"
            "也未提起行政诉讼，至今仍未履行该决定确定的义务。",
            "根据《中华人民共和国行政强制法》第三十五条、第五十四条的规定，现催告你于"
            "{{ deadline }}前履行下列义务：",
            "一、送{{ child_name }}到{{ return_school }}报到入学，保证其接受并完成义务教育；",
            "二、履行《行政处罚决定书》（{{ penalty_number }}）确定的其他义务。",
            "你有权在收到本催告书之日起三日内向本机关进行陈述和申辩。本催告书送达十日后你仍"
            "不履行上述义务且无正当理由的，本机关将依法向人民法院申请强制执行。",
            "特此催告。",
            CONTACT,
        ],
    )
    signature(document)
    receipt(document, "催告书")
    return document


def school_report() -> DocumentObject:
    document = new_document("学校关于学生辍学情况的书面报告")
    title(document, "关于学生{{ child_name }}辍学情况的书面报告")
    line(document, "{{ document_number }}", align="center")
    line(document, "{{ township_government }}、{{ education_bureau }}：")
    body(
        document,
        [
            "我校{{ grade }}{{ class_name }}学生{{ child_name }}（{{ child_description }}），"
            "家住{{ home_place }}，监护人{{ guardian_name }}（{{ guardian_relation }}，联系电话"
            "{{ guardian_phone }}），自{{ began_on }}起未到校上课。经了解，辍学原因主要是："
            "{{ reasons }}。",
            "学生离校后，学校已通过班主任和包保教师电话联系、入户家访等方式多次开展劝返工作"
            "（劝返记录附后），但监护人至今未送学生返校。",
            "根据《中华人民共和国未成年人保护法》第二十八条和《中华人民共和国义务教育法》"
            "第五条、第五十八条等规定，现将该生辍学情况书面报告，恳请乡镇人民政府和教育行政"
            "部门依法督促其监护人于{{ deadline }}前送学生返校。学校将继续配合做好劝返复学、"
            "编班安置和返校后的关爱帮扶工作。",
            "特此报告。",
            "附件：劝返工作记录",
            "学校联系人：{{ contact_name }}　　联系电话：{{ contact_phone }}",
        ],
    )
    signature(document)
    document.add_paragraph()
    line(document, "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -")
    line(document, f"接收单位签收：{LINE}　　接收人：{LINE}　　日期：　　年　　月　　日")
    return document


TEMPLATES = {
    "return_notice": return_notice,
    "order_notice": order_notice,
    "demand": demand,
    "school_report": school_report,
}


def save_reproducibly(document: DocumentObject, path: Path) -> None:
    """Save with fixed zip timestamps, so running the script again changes a committed file
    only when its content changed."""
    raw = BytesIO()
    document.save(raw)
    out = BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            fixed = zipfile.ZipInfo(item.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(item.filename))
    path.write_bytes(out.getvalue())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for kind, build in TEMPLATES.items():
        path = OUT / f"{kind}.docx"
        save_reproducibly(build(), path)
        print(path.relative_to(OUT.parent.parent.parent.parent))


if __name__ == "__main__":
    main()
