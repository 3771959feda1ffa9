const VERSION: u32 = 2;
include!("../../counter-common.rs");
