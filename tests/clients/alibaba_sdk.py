"""Alibaba Cloud's own MPS SDKs as clients of an iprod endpoint: submits a
job with SubmitIProductionJob and queries it with QueryIProductionJob until
it finishes, through the current SDK (alibabacloud-mts20140618, ACS3 HMAC
SHA256 signatures) or the older one (aliyun-python-sdk-mts, signature 1.0).
Prints one JSON object per line: the Submit answer, then the last Query
answer. Exit code 1 when the SDK raised.

Usage: alibaba_sdk.py current|older ENDPOINT ACCESS_KEY_ID SECRET FUNCTION INPUT JOB_PARAMS
"""
import json
import sys
import time

flavour, endpoint, key_id, secret, function, input_, job_params = sys.argv[1:8]


def current():
    from alibabacloud_mts20140618 import models
    from alibabacloud_mts20140618.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    client = Client(open_api_models.Config(
        access_key_id=key_id, access_key_secret=secret, endpoint=endpoint,
        protocol="http", region_id="cn-shanghai"))
    submitted = client.submit_iproduction_job(models.SubmitIProductionJobRequest(
        function_name=function, input=input_, job_params=job_params, user_data="sdk")).body.to_map()
    print(json.dumps(submitted), flush=True)
    for _ in range(300):
        queried = client.query_iproduction_job(
            models.QueryIProductionJobRequest(job_id=submitted["JobId"])).body.to_map()
        if queried.get("State") in ("Success", "Fail"):
            break
        time.sleep(0.1)
    print(json.dumps(queried), flush=True)


def older():
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkmts.request.v20140618.QueryIProductionJobRequest import QueryIProductionJobRequest
    from aliyunsdkmts.request.v20140618.SubmitIProductionJobRequest import SubmitIProductionJobRequest

    client = AcsClient(key_id, secret, "cn-shanghai")
    request = SubmitIProductionJobRequest()
    request.set_endpoint(endpoint)
    request.set_protocol_type("http")
    request.set_FunctionName(function)
    request.set_Input(input_)
    request.set_JobParams(job_params)
    submitted = json.loads(client.do_action_with_exception(request))
    print(json.dumps(submitted), flush=True)
    for _ in range(300):
        query = QueryIProductionJobRequest()
        query.set_endpoint(endpoint)
        query.set_protocol_type("http")
        query.set_JobId(submitted["JobId"])
        queried = json.loads(client.do_action_with_exception(query))
        if queried.get("State") in ("Success", "Fail"):
            break
        time.sleep(0.1)
    print(json.dumps(queried), flush=True)


try:
    {"current": current, "older": older}[flavour]()
except Exception as e:  # the SDK's own exception, with the server's Code
    print(json.dumps({"error": type(e).__name__, "message": str(e)}), flush=True)
    sys.exit(1)
