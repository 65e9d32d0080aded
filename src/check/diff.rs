//! `warden diff`: the calls whose decision differs between two versions of a policy.
