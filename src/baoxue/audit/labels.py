"""Chinese names of the audit's action codes, for the page and the export (an unnamed code is
shown as it is)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    "request.denied": _("访问被拒绝"),
    "login.failed": _("登录失败"),
    "login.locked_out": _("登录被锁定"),
    "child.viewed": _("查看儿童"),
    "child.viewed_as_named": _("以责任人身份查看儿童"),
    "child.access_denied": _("查看儿童被拒绝"),
    "child.id_revealed": _("查看完整身份证号"),
    "case.viewed": _("查看案件"),
    "case.move_refused": _("案件操作被拒绝"),
    "case.attachment_viewed": _("查看案件附件"),
    "case.file_exported": _("导出案卷"),
    "case.notice_exported": _("导出通知书"),
    "case.ledger_exported": _("下载辍学台账"),
    "discrepancy.exported": _("导出信息不一致清单"),
    "import.errors_downloaded": _("下载导入问题清单"),
    "user.created": _("创建账号"),
    "user.deleted": _("删除账号"),
    "user.role_granted": _("授予角色"),
    "user.role_changed": _("修改角色"),
    "user.role_removed": _("撤销角色"),
    "user.activated": _("启用账号"),
    "user.deactivated": _("停用账号"),
    "user.staff_granted": _("授予后台权限"),
    "user.staff_removed": _("撤销后台权限"),
    "user.superuser_granted": _("授予超级管理员"),
    "user.superuser_removed": _("撤销超级管理员"),
    "audit.exported": _("导出访问记录"),
}


def action_label(code: str) -> str:
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code
