const VERSION: u32 = 1;
include!("../../counter-common.rs");
