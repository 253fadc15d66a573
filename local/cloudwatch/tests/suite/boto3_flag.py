"""Publishes and reads the failover flag against the local CloudWatch with boto3, as an
operator's script would, and prints what it saw as JSON.

Usage: python boto3_flag.py ENDPOINT_URL REGION OUT_REGION
"""

import json
import sys
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

NAMESPACE = "MultiRegionApi/Failover"
METRIC = "RegionOut"


def main():
    endpoint, region, out_region = sys.argv[1:4]
    client = boto3.client(
        "cloudwatch",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDLOCALBOTO3",
        aws_secret_access_key="any-secret-works",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    dimensions = [
        {"Name": "App", "Value": "orders"},
        {"Name": "Region", "Value": out_region},
    ]
    now = datetime.now(timezone.utc)
    client.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": dimensions,
                "Value": 1.0,
                "Timestamp": now,
                "StorageResolution": 1,
            }
        ],
    )
    read = client.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "out",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": METRIC,
                        "Dimensions": dimensions,
                    },
                    "Period": 10,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )
    result = read["MetricDataResults"][0]
    client.put_metric_alarm(
        AlarmName="orders-" + out_region + "-out",
        Namespace=NAMESPACE,
        MetricName=METRIC,
        Dimensions=dimensions,
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    alarm = client.describe_alarms(AlarmNamePrefix="orders-")["MetricAlarms"][0]
    try:
        client.set_alarm_state(AlarmName="no-such-alarm", StateValue="ALARM", StateReason="drill")
        error = None
    except ClientError as e:
        error = e.response["Error"]["Code"]
    model = client.meta.service_model
    print(
        json.dumps(
            {
                "protocol": getattr(model, "resolved_protocol", model.protocol),
                "id": result["Id"],
                "label": result["Label"],
                "status": result["StatusCode"],
                "values": result["Values"],
                "timestamps": [t.timestamp() for t in result["Timestamps"]],
                "published_at": now.timestamp(),
                "alarm": {
                    "name": alarm["AlarmName"],
                    "state": alarm["StateValue"],
                    "threshold": alarm["Threshold"],
                    "arn": alarm["AlarmArn"],
                },
                "error": error,
            }
        )
    )


if __name__ == "__main__":
    main()
