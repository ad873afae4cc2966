// SPDX-License-Identifier: MIT
// Every public header in one translation unit, in no particular order: they must agree with
// one another, and clang-tidy (scripts/lint.sh) reads them all through this file.

// Boost 1.74 does not detect clang's coroutines with libstdc++, although they work; said
// here, so that clang-tidy reads the coroutine headers too (see ptl_flow_asio.hpp).
#if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif

#include <pocketflow_throttled/ptl.h>
#include <pocketflow_throttled/ptl.hpp>
#include <pocketflow_throttled/ptl_asio.hpp>
#include <pocketflow_throttled/ptl_flow.hpp>
#include <pocketflow_throttled/ptl_flow_asio.hpp>
#include <pocketflow_throttled/ptl_flow_asio_throttled.hpp>
#include <pocketflow_throttled/ptl_flow_batch.hpp>
#include <pocketflow_throttled/ptl_flow_graph.hpp>
#include <pocketflow_throttled/ptl_flow_nodes.hpp>
#include <pocketflow_throttled/ptl_flow_store.hpp>
#include <pocketflow_throttled/ptl_flow_throttled.hpp>
#include <pocketflow_throttled/ptl_flow_throttled_flow.hpp>
#include <pocketflow_throttled/ptl_policy.hpp>
#include <pocketflow_throttled/ptl_presets.hpp>
