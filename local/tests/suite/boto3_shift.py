"""Moves an app away from a Region of a running local world with boto3, as an on-call
engineer's own script would: everything it needs comes from the world's manifest. It publishes
the flag that takes the Region out, into the other Region's CloudWatch, reads it back, and
prints what it did and saw as JSON.

Usage: python boto3_shift.py MANIFEST APP OUT_REGION
"""

import json
import sys
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config


def main():
    manifest_path, app, out_region = sys.argv[1:4]
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    flags = manifest["routing"]["flags"]
    entry = next(a for a in manifest["apps"] if a["name"] == app)
    flag = next(f for f in entry["routing"]["flags"] if f["region"] == out_region)
    holder = flag["published_in"]
    endpoint = next(e["url"] for e in flags["endpoints"] if e["region"] == holder)
    client = boto3.client(
        "cloudwatch",
        region_name=holder,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDLOCALBOTO3",
        aws_secret_access_key="any-secret-works",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    dimensions = [
        {"Name": "App", "Value": app},
        {"Name": "Region", "Value": out_region},
    ]
    client.put_metric_data(
        Namespace=flags["namespace"],
        MetricData=[
            {
                "MetricName": flags["metric_name"],
                "Dimensions": dimensions,
                "Value": 1.0,
                "Unit": "None",
            }
        ],
    )
    now = datetime.now(timezone.utc)
    read = client.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "flag",
                "MetricStat": {
                    "Metric": {
                        "Namespace": flags["namespace"],
                        "MetricName": flags["metric_name"],
                        "Dimensions": dimensions,
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )
    alarm = client.describe_alarms(AlarmNames=[flag["alarm_name"]])["MetricAlarms"][0]
    print(
        json.dumps(
            {
                "published_in": holder,
                "endpoint": endpoint,
                "values": read["MetricDataResults"][0]["Values"],
                "alarm": alarm["AlarmName"],
                "alarm_metric": alarm["MetricName"],
                "treat_missing_data": alarm["TreatMissingData"],
            }
        )
    )


if __name__ == "__main__":
    main()
