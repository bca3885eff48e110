"""Every text the service shows a person, in English and Chinese, from one catalogue.

Wording follows the published pages (cec_07_0323, cec_07_0324) except where they contradict
themselves; README.md lists those decisions.
"""

from __future__ import annotations

import functools

ENGLISH, CHINESE = "en", "zh"

RET_MESSAGES = {
    "200": ("The short message is sent successfully.", "短信发送成功。"),
    "201": (
        "The verification code already exists. Send it later.",
        "验证码已存在,请稍后发送。",
    ),
    "202": (
        "The SMS verification code fails to be sent. Contact operations personnel.",
        "发送短信验证码出现异常,请联系运营人员。",
    ),
    "204": (
        "The SMS message fails to be sent. Contact operations personnel.",
        "发送短信失败,请联系运营人员。",
    ),
    "205": (
        "The number of SMS messages sent today has reached the threshold. "
        "Contact operations personnel to change the threshold.",
        "今日系统发送短信已达阈值,请联系运营人员修改系统每天总发送阈值。",
    ),
}

RETURN_MESSAGES = {
    "000": (
        "The application is successful. Check the email to obtain the account information. "
        "If no email is received, contact operations personnel.",
        "申请成功,请注意查收邮件获取账号信息,如未收到邮件请联系运营人员。",
    ),
    "001": (
        "The verification code does not exist or has expired. Obtain a new one.",
        "验证码不存在或者过期,请重新获取。",
    ),
    "002": ("Incorrect verification code.", "验证码错误。"),
    "003": (
        "An exception occurs during the verification of the verification code. "
        "Contact operations personnel.",
        "校验验证码出现异常,请联系运营人员。",
    ),
    "004": (
        "The trial use application fails because a tenant in trial commercial use or "
        "commercial use already exists. Contact operations personnel.",
        "已经存在试商用或者商用的租户,试用失败,请联系运营人员。",
    ),
    "005": ("Resource conflict. Try again 1 minute later.", "资源冲突,请一分钟后再试。"),
    "006": (
        "The trial use application fails because there is no voice or multimedia access code "
        "for trial use. Contact operations personnel.",
        "没有支持试用的音频或多媒体接入码,试用失败,请联系运营人员。",
    ),
    "205": (
        "The number of emails sent today has reached the threshold. "
        "Contact operations personnel to change the threshold.",
        "今日系统发送邮件已达阈值,请联系运营人员修改系统每天总发送阈值。",
    ),
}

# 201 when nothing is sent without a solved challenge (challengeRequired, applytry.challenges).
CHALLENGE_REQUIRED = (
    "Complete the challenge, then ask for the code again.",
    "请完成验证后重新获取验证码。",
)

# 000 when the tenant is open but the mail server has not taken the account mail yet.
MAIL_QUEUED = (
    "The application is successful. The account email could not be sent yet and will be sent "
    "again automatically. If no email is received, contact operations personnel.",
    "申请成功,账号邮件暂未发出,系统将自动重发,如未收到邮件请联系运营人员。",
)

ACCOUNT_MAIL_SUBJECT = ("Your trial tenant is ready", "您的试用租户已开通")
ACCOUNT_MAIL_TEXT = (
    "Your trial of the contact centre for {company} is open until {trial_end} (UTC).\n\n"
    "Administrator account: {account}\n"
    "Trial access code: {access_code}\n"
    "One-time setup token: {token}\n\n"
    "Use the token once to set the administrator's password. Do not share it.\n",
    "{company} 的联络中心试用已开通,有效期至 {trial_end}(UTC)。\n\n"
    "管理员账号:{account}\n"
    "试用接入码:{access_code}\n"
    "一次性设置令牌:{token}\n\n"
    "请使用该令牌设置管理员密码,令牌仅可使用一次,请勿泄露。\n",
)

PROBLEM_TITLES = {
    400: (
        "Incorrect request. Check the request path and parameters.",
        "错误的请求:请检查请求路径及参数",
    ),
    401: (
        "Unauthorized operation. 1. Check whether you have purchased related services. "
        "2. Contact customer service to check the status of your account.",
        "未授权:1. 请确认是否购买了相关服务。 2. 请联系客服人员检查您账号的当前状态。",
    ),
    403: ("Authentication fails.", "鉴权失败"),
    404: (
        "The requested content is not found. Check the request path.",
        "请求的内容未找到:请检查请求的路径",
    ),
    405: ("The method is not allowed for the requested path.", "请求的路径不支持该方法"),
    408: ("The request did not arrive in time.", "请求未在规定时间内到达"),
    413: ("The request body is too large.", "请求体过大"),
    415: (
        "Unsupported media type. Send the body in the media type the operation documents.",
        "不支持的媒体类型,请按接口文档的媒体类型发送请求体",
    ),
    429: ("Too many requests. Try again later.", "请求过于频繁,请稍后再试"),
    500: (
        "Business failure. Check the values of parameters in the request.",
        "业务失败:请依次确认您请求中各参数的取值。",
    ),
    503: ("The service is not ready.", "服务尚未就绪"),
}

SMS_TEMPLATES = (
    "Your verification code is {code}. It expires in {minutes} minutes. "
    "Do not share it with anyone.",
    "您的验证码为{code},{minutes}分钟内有效,请勿泄露给他人。",
)


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == CHINESE else pair[0]


def ret_message(ret_code: str, language: str) -> str:
    return _pick(RET_MESSAGES[ret_code], language)


def challenge_message(language: str) -> str:
    """The retMsg of a 201 that asks for a solved challenge."""
    return _pick(CHALLENGE_REQUIRED, language)


def return_message(return_code: str, language: str, *, mail_queued: bool = False) -> str:
    return _pick(MAIL_QUEUED if mail_queued else RETURN_MESSAGES[return_code], language)


def account_mail(language: str, **fields: str) -> tuple[str, str]:
    """The account mail's subject and text."""
    return _pick(ACCOUNT_MAIL_SUBJECT, language), _pick(ACCOUNT_MAIL_TEXT, language).format(
        **fields
    )


def problem_title(status: int, language: str) -> str:
    pair = PROBLEM_TITLES.get(status) or PROBLEM_TITLES[400 if status < 500 else 500]
    return _pick(pair, language)


def sms_text(templates: tuple[str, str], code: str, ttl_s: int, language: str) -> str:
    """The SMS from the configured ``(English, Chinese)`` templates."""
    return _pick(templates, language).format(code=code, minutes=minutes(ttl_s))


def minutes(ttl_s: int) -> int:
    return max(1, ttl_s // 60)


@functools.lru_cache(maxsize=256)  # browsers send a handful of distinct headers
def negotiate(accept_language: str | None) -> str:
    """Chinese when the header ranks any ``zh`` above every ``en``; English otherwise."""
    if not accept_language:
        return ENGLISH
    best: dict[str, tuple[float, int]] = {}
    for position, item in enumerate(accept_language.split(",")):
        tag, *params = item.split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in (ENGLISH, CHINESE) and quality > 0:
            # Higher quality wins; at equal quality, the one listed first.
            best[language] = max(best.get(language, (0.0, 0)), (quality, -position))
    return max(best, key=best.__getitem__) if best else ENGLISH
