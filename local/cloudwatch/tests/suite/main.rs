use aws_sdk_cloudwatch as _;
#[test]
fn t() {}
