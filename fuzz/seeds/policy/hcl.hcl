path "database/creds/*" {
  capabilities = ["read", "list"]
  allowed_parameters = { "ttl" = ["1h", "2h"] }
  min_wrapping_ttl = "1m"
}
path "sys/leases/+/x" { capabilities = ["deny"] }
