// SPDX-License-Identifier: MIT
// ptl_flow.hpp - PocketFlow's graph and the throttled executors in C++, header-only over the
// C ABI (the Boost.Asio coroutine forms are in ptl_flow_asio.hpp).
//
//   ptl_flow_store.hpp           Params, Shared, set_warning_handler
//   ptl_flow_graph.hpp           BaseNode, >> and - "action" >>
//   ptl_flow_nodes.hpp           Node, BatchNode, Flow, BatchFlow
//   ptl_flow_batch.hpp           BatchOptions, BatchStats, ptl::Batch (completion style)
//   ptl_flow_rules.hpp           the settings, statistics and failure rules of every
//                                throttled executor (threads and coroutines alike)
//   ptl_flow_blocking.hpp        the blocking runner of the thread-based executors
//   ptl_flow_throttled.hpp       ThrottledParallelBatchNode, AdaptiveThrottledNode
//   ptl_flow_throttled_flow.hpp  ThrottledParallelBatchFlow, AdaptiveThrottledBatchFlow
//
// The design (copy per visit, threads and coroutines, failure policies) is in
// docs/adr/0007-cpp-graph.md.
#pragma once

#include <pocketflow_throttled/ptl_flow_batch.hpp>
#include <pocketflow_throttled/ptl_flow_graph.hpp>
#include <pocketflow_throttled/ptl_flow_nodes.hpp>
#include <pocketflow_throttled/ptl_flow_rules.hpp>
#include <pocketflow_throttled/ptl_flow_store.hpp>
#include <pocketflow_throttled/ptl_flow_throttled.hpp>
#include <pocketflow_throttled/ptl_flow_throttled_flow.hpp>
