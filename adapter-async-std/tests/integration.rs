//! The adapters' shared integration matrix (`ferry-testkit`) on async-std.

ferry_testkit::integration_tests!(ferry_async_std::AsyncStdRuntime, async_std::task::block_on);
