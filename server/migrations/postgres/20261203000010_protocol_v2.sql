-- Protocol 2 (ADR 010, docs/PROTOCOL.md §12.6): which protocol versions a device's codes may use.
-- proto_v2 = 1 once the device was sent a version-2 bundle. Protocol-1 codes are accepted for
-- steps that start before v1_until (Unix s): every existing device holds a version-1 bundle, so
-- the default keeps accepting them; provisioning on protocol 2 stores the smallest BIGINT.
ALTER TABLE devices ADD COLUMN proto_v2 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN v1_until BIGINT NOT NULL DEFAULT 9223372036854775807;
