// Every word the form shows, in English and Chinese. An outcome's key is its `data-code` on
// the message element: the operation and its retCode or returnCode, an HTTP status, or a
// check made before any request.

export type Language = "en" | "zh";

export interface Words {
  heading: string;
  phone: string;
  phoneHint: string;
  send: string;
  sendAgain: string;
  sendIn: (seconds: number) => string;
  code: string;
  company: string;
  email: string;
  apply: string;
  applyIn: (seconds: number) => string;
  solving: string;
  outcomes: Record<string, string>;
}

const en: Words = {
  heading: "Sign up with your mobile number",
  phone: "Mobile number",
  phoneHint: "We send a six-digit code to this number by SMS.",
  send: "Send code",
  sendAgain: "Send again",
  sendIn: (s) => `Send again in ${duration(s, "en")}`,
  code: "Verification code",
  company: "Company name",
  email: "Email",
  apply: "Start my trial",
  applyIn: (s) => `Try again in ${duration(s, "en")}`,
  solving: "Checking this browser",
  outcomes: {
    pending: "One moment…",
    "generate-200": "We sent a code by SMS. Enter it below.",
    "generate-201": "A code was sent to this number moments ago. You can ask again when the countdown ends.",
    "generate-201-later": "This number has had all the codes it may get for now. You can ask again when the countdown ends.",
    "generate-202": "The SMS could not be sent to this number. Check the number, or contact us.",
    "generate-204": "The SMS service could not be reached. Try again in a few minutes.",
    "generate-205": "Sign-ups are paused for today: the daily SMS limit is reached. Please try again tomorrow.",
    "challenge-solving": "Checking this browser before the code is sent…",
    "challenge-failed": "This browser could not be checked. Try again when the countdown ends.",
    "challenge-unsupported": "This sign-up asks for a check this form cannot show. Contact the site owner.",
    "apply-000": "Your trial is ready.",
    "apply-001": "The code has expired or was never sent. Ask for a new code.",
    "apply-002": "The code is not right. Check the SMS and try again.",
    "apply-003": "The code could not be checked just now. Try again.",
    "apply-004": "This company or phone already has a trial or a subscription.",
    "apply-005": "Another request for this trial is in progress. Try again in a minute.",
    "apply-006": "No trial places are left right now. Please try again later.",
    "apply-205": "Sign-ups are paused for today: the daily email limit is reached. Please try again tomorrow.",
    "http-400": "Some details are not valid. Check them and try again.",
    "http-401": "This form is not set up to call the service (its API key is missing). Contact the site owner.",
    "http-403": "This form is not allowed to call the service. Contact the site owner.",
    "http-404": "The sign-up service was not found at this address. Contact the site owner.",
    "http-408": "The request took too long to reach the service. Try again.",
    "http-413": "What you entered is too long. Shorten it and try again.",
    "http-415": "The service did not understand the request. Contact the site owner.",
    "http-429": "Too many attempts from this network. Try again when the countdown ends.",
    "http-500": "Something went wrong on our side. Try again in a few minutes.",
    network: "The service could not be reached. Check your connection and try again; if it keeps happening, tell the site owner.",
    "missing-phone": "Enter your mobile number.",
    "missing-fields": "Fill in the code, the company name and the email.",
  },
};

const zh: Words = {
  heading: "使用手机号码申请试用",
  phone: "手机号码",
  phoneHint: "我们将通过短信向该号码发送六位验证码。",
  send: "获取验证码",
  sendAgain: "重新获取",
  sendIn: (s) => `${duration(s, "zh")}后重新获取`,
  code: "验证码",
  company: "公司名称",
  email: "电子邮箱",
  apply: "开通试用",
  applyIn: (s) => `${duration(s, "zh")}后重试`,
  solving: "正在验证浏览器",
  outcomes: {
    pending: "请稍候……",
    "generate-200": "验证码已通过短信发送，请在下方输入。",
    "generate-201": "验证码刚刚已发送到该号码，倒计时结束后可重新获取。",
    "generate-201-later": "该号码暂时已达到验证码获取次数上限，倒计时结束后可重新获取。",
    "generate-202": "短信无法发送到该号码。请检查号码，或联系我们。",
    "generate-204": "暂时无法连接短信服务，请几分钟后再试。",
    "generate-205": "今日短信发送量已达上限，暂停申请，请明天再试。",
    "challenge-solving": "发送验证码前，正在验证您的浏览器……",
    "challenge-failed": "无法验证此浏览器，请在倒计时结束后重试。",
    "challenge-unsupported": "此申请需要一项本表单无法显示的验证，请联系网站所有者。",
    "apply-000": "您的试用已开通。",
    "apply-001": "验证码已过期或未发送，请重新获取。",
    "apply-002": "验证码不正确，请核对短信后重试。",
    "apply-003": "暂时无法校验验证码，请重试。",
    "apply-004": "该公司或手机号码已有试用或商用租户。",
    "apply-005": "该试用的另一个申请正在处理中，请一分钟后重试。",
    "apply-006": "试用名额已用完，请稍后再试。",
    "apply-205": "今日邮件发送量已达上限，暂停申请，请明天再试。",
    "http-400": "部分信息无效，请检查后重试。",
    "http-401": "此表单未配置调用服务所需的 API 密钥，请联系网站所有者。",
    "http-403": "此表单无权调用服务，请联系网站所有者。",
    "http-404": "在此地址找不到申请服务，请联系网站所有者。",
    "http-408": "请求发送到服务的时间过长，请重试。",
    "http-413": "输入的内容过长，请缩短后重试。",
    "http-415": "服务无法理解该请求，请联系网站所有者。",
    "http-429": "来自此网络的尝试次数过多，请在倒计时结束后重试。",
    "http-500": "服务出现问题，请几分钟后再试。",
    network: "无法连接服务，请检查网络连接后重试；如果问题持续，请告知网站所有者。",
    "missing-phone": "请输入手机号码。",
    "missing-fields": "请填写验证码、公司名称和电子邮箱。",
  },
};

const CATALOGUE: Record<Language, Words> = { en, zh };

/** A wait as a visitor reads it: seconds up to two minutes, then minutes, then hours. */
export function duration(seconds: number, language: Language): string {
  const [value, unit] =
    seconds < 120
      ? [seconds, language === "zh" ? "秒" : "s"]
      : seconds < 7200
        ? [Math.ceil(seconds / 60), language === "zh" ? "分钟" : "min"]
        : [Math.ceil(seconds / 3600), language === "zh" ? "小时" : "h"];
  return `${value} ${unit}`;
}

/** `zh` when the first of `preferred` that is Chinese or English is Chinese; else `en`. */
export function pickLanguage(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const primary = tag.toLowerCase().split("-")[0];
    if (primary === "zh" || primary === "en") return primary;
  }
  return "en";
}

export function words(language: Language): Words {
  return CATALOGUE[language];
}
