#!/usr/bin/env python3
"""Writes the seed corpora (corpus/<target>/seed-*): real messages, most of them the bodies
the adapters' and the host's tests use. Run from fuzz/: `python3 seeds.py`."""
import os, subprocess

NOW = 1700000000
SEEDS = {}

def add(target, *items):
    SEEDS.setdefault(target, []).extend(items)

def msg(headers, body):
    return "".join(f"{k}: {v}\n" for k, v in headers) + "\n" + body

# WeChat Pay notifications (envelope + headers), and decrypted resources.
wx_headers = [
    ("Wechatpay-Timestamp", str(NOW)), ("Wechatpay-Nonce", "fdasflkja484w"),
    ("Wechatpay-Signature", "Wd3ZB4lQ7o8KJHhqUdDrIdkIfXbE0vRJT6bGsB5Qh9A="),
    ("Wechatpay-Serial", "PUB_KEY_ID_0114232134912410000000000000000001"),
    ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048"),
]
wx_cert_headers = [h if h[0] != "Wechatpay-Serial" else ("Wechatpay-Serial", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1") for h in wx_headers]
envelope = '{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"c2VjcmV0IGJ5dGVzIGFuZCBhIHRhZw==","associated_data":"transaction","nonce":"fdasflkja484"}}'
refund_envelope = envelope.replace("TRANSACTION.SUCCESS", "REFUND.SUCCESS").replace('"transaction"', '"refund"')
transaction = '{"mchid":"1900000109","appid":"wxd678efh567hg6787","out_trade_no":"P1700000000A1","transaction_id":"1217752501201407033233368018","trade_type":"NATIVE","trade_state":"SUCCESS","trade_state_desc":"支付成功","success_time":"2018-06-08T10:34:56+08:00","amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}'
refund_notice = '{"mchid":"1900000109","out_trade_no":"P1700000000A1","transaction_id":"1217752501201407033233368018","out_refund_no":"R1700000000A1","refund_id":"50000000382019052709732678859","refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00","amount":{"total":100,"refund":50,"payer_total":100,"payer_refund":50,"currency":"CNY"}}'
add("wechat_notification", msg(wx_headers, envelope), msg(wx_cert_headers, refund_envelope),
    msg(wx_headers, transaction), msg(wx_headers, refund_notice),
    msg([("Wechatpay-Timestamp", str(NOW - 301))] + wx_headers[1:], envelope),
    msg([h if h[0] != "Wechatpay-Signature" else (h[0], "WECHATPAY/SIGNTEST/abc") for h in wx_headers], envelope))
# WeChat Pay answers: status, headers, body.
errors = ['{"code":"SIGN_ERROR","message":"签名信息错误，验签失败"}',
          '{"code":"ORDERPAID","message":"该订单已支付"}', '{"code":"ORDER_NOT_EXIST","message":"订单不存在"}',
          '{"code":"SYSTEM_ERROR","message":"系统错误"}',
          '{"code":"PARAM_ERROR","detail":{"location":"body","value":1},"message":"输入源“/body/out_trade_no”映射到值字段“商户订单号”字符串规则校验失败，字节数 1，小于最小值 6"}']
add("wechat_answer", "200\n" + msg(wx_headers, '{"code_url":"weixin://wxpay/bizpayurl?pr=x"}'),
    "200\n" + msg(wx_headers, '{"prepay_id":"wx201410272009395522657a690389285100"}'),
    "200\n" + msg(wx_headers, transaction.replace("P1700000000A1", "P1700000000A1")),
    "200\n" + msg(wx_headers, '{"refund_id":"50000000382019052709732678859","out_refund_no":"R1700000000A1","status":"PROCESSING","amount":{"refund":50,"currency":"CNY"}}'),
    "401\n" + msg([], errors[0]), "400\n" + msg(wx_headers, errors[1]), "404\n" + msg(wx_headers, errors[2]),
    "500\n" + msg([], errors[3]), "400\n" + msg([], errors[4]), "502\n" + msg([], "<html>Bad Gateway</html>"))

# Alipay notifications (the adapter's test notification) and answers.
form = "app_id=2015102700040153&out_trade_no=P0719141034&trade_no=2016071921001003030200089909&trade_status=TRADE_SUCCESS&total_amount=2.00&refund_fee=0.00&gmt_payment=2016-07-19+14%3A10%3A47&sign_type=RSA2&sign=kPbQIjX%2BxQc8F0%2FA6%2FAocw%3D%3D"
add("alipay_notification", form, form + "&alipay_cert_sn=0123456789abcdef0123456789abcdef",
    form.replace("TRADE_SUCCESS", "TRADE_CLOSED") + "&gmt_refund=2016-07-20+10%3A00%3A00",
    "notify_time=2016-07-19+14%3A10%3A49&notify_type=trade_status_sync&charset=utf-8&version=1.0&subject=%E8%8C%B6&" + form)
answers = [
    ("alipay.trade.query", '{"alipay_trade_query_response":{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","total_amount":"1.00","send_pay_date":"2016-07-19 14:10:47"},"sign":"AAEC"}'),
    ("alipay.trade.query", '{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}}'),
    ("alipay.trade.query", '{"error_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}}'),
    ("alipay.trade.query", '{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"alipay_cert_sn":"0123456789abcdef0123456789abcdef","sign":"AAEC"}'),
    ("alipay.trade.precreate", '{"alipay_trade_precreate_response":{"code":"10000","msg":"Success","out_trade_no":"P1","qr_code":"https:\\/\\/qr.alipay.com\\/bax03431"},"sign":"s"}'),
    ("alipay.trade.refund", '{"alipay_trade_refund_response":{"code":"10000","msg":"Success","out_trade_no":"P1","fund_change":"Y","refund_fee":88.88},"sign":"s"}'),
    ("alipay.trade.fastpay.refund.query", '{"alipay_trade_fastpay_refund_query_response":{"code":"10000","msg":"Success","out_trade_no":"P1","out_request_no":"R1","refund_amount":"0.10","refund_status":"REFUND_SUCCESS"},"sign":"s"}'),
    ("alipay.trade.close", '{"x_response":{"sub_msg":"a } \\" ] { \\\\","sign":"inner","n":[1,{"a":"}"}]},"sign":"outer"}'),
]
add("alipay_answer", *[f"{m}\n{b}" for m, b in answers])
CLASS1 = "CN=Ant Financial Certification Authority Class 1 R1,OU=Certification Authority,O=Ant Financial,C=CN"
root = [("CN=ROOTCA,O=NRCAC,C=CN", "69E2FEC0170AC67B", "1.2.156.10197.1.501"),
        ("CN=Ant Financial Certification Authority R1,OU=Certification Authority,O=Ant Financial,C=CN", "1FCFA18D6A480D11", "1.2.840.113549.1.1.11"),
        ("CN=Ant Financial Certification Authority E1,OU=Certification Authority,O=Ant Financial,C=CN", "417EFA52C07FDF4A", "1.2.840.10045.4.3.3"),
        ("CN=iTrusChina Class 2 Root CA - G3,OU=China Trust Network,O=iTrusChina,C=CN", "10C764E9D560384212D9C08FD10E373FDD0FB396", "1.2.840.113549.1.1.5")]
recs = [("app", CLASS1, "2020051862039D4090897BA4D51C2126", "1.2.840.113549.1.1.11"),
        ("alipay", CLASS1, "20200514E63C2FE04D538716FE21358B", "1.2.840.113549.1.1.11")] + [("root",) + r for r in root]
add("alipay_cert", "\n".join("\n".join(r) for r in recs) + "\n20200514e63c2fe04d538716fe21358b\n",
    "public\n" + "\n".join("\n".join(r) for r in recs[:2]) + "\n",
    "app\n1.2.840.113549.1.9.1=#16146170707375707061c\n0\n1.2.840.113549.1.1.11\n")

# The sandbox provider (mock adapter).
sb = [("x-sandbox-account", "acct_demo"), ("x-sandbox-timestamp", str(NOW)),
      ("x-sandbox-nonce", "c5ac7061fccab6bf3e254dcf98995b8c"),
      ("x-sandbox-signature", "9f" * 32)]
add("mock_wire",
    "200\n" + msg(sb, '{"event":"trade.paid","payment_no":"P1700000000A1","trade_id":"T1","state":"PAID","paid_amount":500,"currency":"CNY","paid_at":1700000000}'),
    "200\n" + msg([], '{"payment_no":"P1700000000A1","trade_id":"T1","state":"PAID","currency":"CNY","paid_amount":500,"paid_at":1700000000}'),
    "201\n" + msg([], '{"trade_id":"T1","pay_url":"http://127.0.0.1:8080/sandbox/checkout/T1"}'),
    "201\n" + msg([], '{"refund_id":"RF1","state":"SUCCEEDED","amount":100}'),
    "409\n" + msg([], '{"code":"TRADE_PAID","message":"already paid"}'),
    "401\n" + msg([], '{"code":"SIGNATURE_INVALID","message":"signature does not verify"}'),
    "404\n" + msg([], "not found"), "503\n" + msg([], ""))

# REST bodies, as the e2e tests send them.
add("rest_bodies",
    'orders\n{"out_trade_no":"W0123456789","amount":500,"currency":"CNY","subject":"Tea","ttl_seconds":600,"notify_url":"https://merchant.example/hook"}',
    'orders\n{"out_trade_no":"A-1|b*c.d_e","amount":1,"currency":"JPY","subject":"茶"}',
    'payments\n{"order_ids":["ord_01"],"provider":"wechat","channel":"h5","payer":{"client_ip":"203.0.113.7","return_url":"https://shop.example/done"}}',
    'payments\n{"order_ids":["ord_01","ord_02"],"provider":"wechat","channel":"jsapi","payer":{"open_id":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}',
    'refunds\n{"amount":100,"reason":"damaged"}',
    'merchants\n{"name":"acme","notify_url":"https://acme.example/hooks/paygate"}',
    'providers\n{"settings":{"mchid":"1900000109","appid":"wxd678efh567hg6787","base_url":"https://api.mch.weixin.qq.com"},"secrets":{"apiv3_key":"0123456789abcdef0123456789abcdef","platform_certificates":null}}',
    'webhook\n{"notify_url":null}', 'activate\n{"version":"0.2.1"}', 'page\n50\nmer_01', 'orders\n{amount: 1')

# Provider secrets: the runtime's test keys and certificates.
data = "../runtime/src/testdata"
bundle = open(f"{data}/bundle.pem").read()
key = open(f"{data}/cert_a_key.pem").read()
pub = subprocess.run(["openssl", "pkey", "-pubout"], input=key, capture_output=True, text=True).stdout
pkcs1 = subprocess.run(["openssl", "rsa", "-traditional"], input=key, capture_output=True, text=True).stdout
bare = "".join(l for l in pub.splitlines() if not l.startswith("-----"))
add("provider_secrets", "x509-certificates\n" + bundle, "rsa-private-key\n" + key,
    "rsa-private-key\n" + pkcs1, "rsa-public-key\n" + pub, "rsa-public-key\n" + bare,
    "aes256-key\n0123456789abcdef0123456789abcdef", "aes256-key\n" + "ab" * 32, "hmac-key\nsk_test_123",
    "base-url\nhttps://api.mch.weixin.qq.com", "base-url\nhttp://127.0.0.1:8080/sandbox", "base-url\nhttp://[::1]:9/x")

# Configuration files.
add("config_file",
    'listen = "127.0.0.1:8080"\ndata_dir = "/var/lib/paygate"\ndatabase_url = "postgres://paygate:secret@127.0.0.1:5432/paygate"\nredis_url = "redis://127.0.0.1:6379"\nwebhook_schedule = "10s,30s,1m,5m,15m,1h,6h"\nstatus_sync_schedule = "1m,5m"\nqueue_lease = "30s"\nadapter_cpu_budget = "500ms"\nadapter_memory_mb = 64\nsandbox = false\nlog = "info"\n',
    'public_url = "https://pay.example.com/"\nrepay_cutoff = "2m"\n---\nPAYGATE_FLAG_AFTER_REFUSALS=5\nPAYGATE_ADAPTER_MAX_COMPONENT_MB=16\nPAYGATE_SANDBOX=yes\nPAYGATE_WEBHOOK_SCHEDULE=10s,1m,5m\n',
    'listen = 8080\n', '[unknown]\nx = 1\n')

# Webhook signatures (paygate's) and the sandbox's signed requests.
import hmac, hashlib
body = '{"id":"evt_01","type":"order.paid","order_id":"ord_01"}'
good = hmac.new(b"whsec_fuzz", f"{NOW}.{body}".encode(), hashlib.sha256).hexdigest()
add("webhook_signature", msg([("Paygate-Signature", f"t={NOW},v1={good}")], body),
    msg([("Paygate-Signature", f"t={NOW - 400},v1={good}")], body),
    msg(sb, '{"payment_no":"P1700000000A1","amount":500,"currency":"CNY","subject":"Tea"}'))

# WeChat Pay's trade bill of type ALL, exactly as the simulator writes it
# (simulators/wechat/src/bills.rs: CRLF, every field led by a backtick, the summary last), the
# rows of the adapter's unit tests (plugins/wechat/src/bill.rs), and the shapes seen in the
# field; the file as downloaded, gzipped and already inflated.
import gzip
WX_BILL_HEADER = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
WX_SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
wx_paid = "`2026-12-01 10:00:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`6.68,`0.00,`0,`0,`0.00,`0.00,`,`,`Green tea,`,`0.04,`0.60%,`6.68,`0.00,`"
wx_refund = "`2026-12-01 11:30:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000012026120100000000001,`R0123456789,`3.00,`0.00,`ORIGINAL,`SUCCESS,`Green tea,`,`-0.02,`0.60%,`0.00,`3.00,`"
wx_processing = "`2026-12-01 12:15:30,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000002,`P0123456790,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000012026120100000000002,`R0123456790,`1.00,`0.00,`ORIGINAL,`PROCESSING,`Black tea,`,`0.00,`0.60%,`0.00,`1.00,`"
wx_bill = "".join(l + "\r\n" for l in [WX_BILL_HEADER, wx_paid, wx_refund, wx_processing, WX_SUMMARY_HEADER,
                                       "`3,`6.68,`3.00,`0.00,`0.02,`6.68,`3.00"])
wx_field = ("\ufeff" + "\n".join([WX_BILL_HEADER, wx_paid.replace("`0.04,", "`0.04000,"),
                                  wx_refund.replace("`-0.02,", "`-0.02000,"), WX_SUMMARY_HEADER,
                                  "`2,`6.68,`3.00,`0.00,`0.02000,`6.68,`3.00"]) + "\n")
wx_early = "".join(l + "\r\n" for l in [
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率",
    "`2026-12-01 10:00:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8u,`NATIVE,`SUCCESS,`OTHERS,`CNY,`6.68,`0.0,`0,`0,`0,`0,`,`,`Tea, green,`{\"a\":1,\"b\":2},`0.04,`0.60%",
    "`2026-12-01 11:30:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8u,`NATIVE,`REFUND,`OTHERS,`CNY,`0,`0.0,`50300000012026120100000000001,`R0123456789,`3.00,`0,`ORIGINAL,`REFUNDCLOSE,`Green tea,`,`-0.02,`0.60%",
    "总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额", "`2,`6.68,`3.00,`0,`0.02"])
add("wechat_bill", "text\n" + wx_bill, "text\n" + wx_field, "text\n" + wx_early,
    b"file\n" + gzip.compress(wx_bill.encode(), mtime=0), "file\n" + wx_bill,
    "url\nhttps://api.mch.weixin.qq.com/v3/billdownload/file?token=6XIv5TUP\nhttps://api.mch.weixin.qq.com",
    "url\nhttp://[::1]:9090/v3/billdownload/file?token=x\nhttp://[::1]:9090/wechat", "day\n2026-12-01")

# Alipay's trade bill: the zip as the simulator serves it (simulators/alipay/src/bills.rs: the
# detail and the summary CSV in GBK, their tables between `#` lines, CRLF; UTF-8 names, flagged
# as such), with the rows of the adapter's unit tests (plugins/alipay/src/bill.rs); the same
# with GBK names (no UTF-8 flag, as zips made on Chinese Windows have them); and detail files
# alone (the target zips them), the simulator's and one in the field's shape (LF, blank-padded
# fields, quoted fields, ASCII parentheses in the header).
import io, zipfile
ALI_HEADER = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
ali_paid = "2026120122001400000000000001,P100001,交易,tea,2026-12-01 10:00:00,2026-12-01 10:00:05,,,,,buy***@example.com,10.00,10.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.06,0.00,"
ali_refund = "2026120122001400000000000001,P100001,退款,tea,2026-12-01 10:00:00,2026-12-01 15:30:00,,,,,buy***@example.com,-3.00,-3.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,RQ1,0.02,0.00,"
ALI_PID, ALI_DAY = "2088102000000001", "2026-12-01"
ali_frame = f"#账号：[{ALI_PID}]\r\n#起始日期：[{ALI_DAY} 00:00:00]   终止日期：[{ALI_DAY} 23:59:59]\r\n"
ali_detail = (f"#支付宝业务明细查询\r\n{ali_frame}#-----------------------------------------业务明细列表----------------------------------------\r\n"
              f"{ALI_HEADER}\r\n{ali_paid}\r\n{ali_refund}\r\n"
              "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
              "#交易合计：1笔，商家实收：10.00元，商家优惠：0.00元\r\n#退款合计：1笔，商家实收：-3.00元，商家优惠：0.00元\r\n"
              f"#导出时间：[{ALI_DAY} 23:59:59]\r\n")
ali_summary = (f"#支付宝业务汇总查询\r\n{ali_frame}#-----------------------------------------业务汇总列表----------------------------------------\r\n"
               "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,服务费（元）,实收净额（元）\r\n"
               ",合计,1,1,7.00,7.00,-0.04,6.96\r\n"
               "#-----------------------------------------业务汇总列表结束------------------------------------\r\n"
               f"#导出时间：[{ALI_DAY.replace('-', '')}]\r\n")
ali_names = [f"{ALI_PID}_{ALI_DAY.replace('-', '')}_业务明细.csv", f"{ALI_PID}_{ALI_DAY.replace('-', '')}_业务明细(汇总).csv"]

class GbkNamed(zipfile.ZipInfo):
    """An entry whose name is written in GBK, without the UTF-8 flag."""
    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800

def ali_zip(files, info=zipfile.ZipInfo):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in files:
            entry = info(name, date_time=(2026, 12, 1, 23, 59, 58))  # fixed: the seeds stay the same
            entry.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(entry, text.encode("gbk"))
    return out.getvalue()

ali_files = list(zip(ali_names, [ali_detail, ali_summary]))
ali_field = ali_detail.replace("\r\n", "\n").replace("（", "(").replace("）", ")").replace(
    ali_paid, ali_paid.replace(",tea,", ',"tea, green ""oolong"""  ,').replace(",P100001,", ",P100001\t\t,")).replace(
    ali_refund, ali_refund.replace(",RQ1,", ",RQ1    ,"))
add("alipay_bill", b"zip\n" + ali_zip(ali_files), b"zip\n" + ali_zip(ali_files, GbkNamed),
    b"csv\n" + ali_detail.encode("gbk"), b"csv\n" + ali_field.encode("gbk"), "day\n2026-12-01")

# Regressions: inputs that crashed a parser once (see README.md), replayed by every run.
MIN = "-9223372036854775808"
add("wechat_notification", msg([("Wechatpay-Timestamp", MIN)] + wx_headers[1:], envelope),
    msg([("Wechatpay-Timestamp", str(NOW - 2**63))] + wx_headers[1:], envelope))
add("webhook_signature", msg([("Paygate-Signature", f"t={MIN},v1={good}")], body),
    msg([(k, MIN if k == "x-sandbox-timestamp" else v) for k, v in sb], body))
add("provider_secrets", "x509-certificates\n-----BEGIN CERTIFICATE-----\nMIIn\n-----END CERTIFICATE-----\n")
add("config_file", f'webhook_schedule = "10s,{2**64 // 3600 + 1}h"\nqueue_lease = "{2**64 // 60 + 1}m"\n')

for target, items in SEEDS.items():
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for i, item in enumerate(items):
        with open(f"corpus/{target}/seed-{i:02}", "wb" if isinstance(item, bytes) else "w") as f:
            f.write(item)
print({t: len(v) for t, v in SEEDS.items()})
