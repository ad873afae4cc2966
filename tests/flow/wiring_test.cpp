// SPDX-License-Identifier: MIT
// Wiring: loops live as long as their flow and are freed with it, wiring that would slice a
// node is refused, and the params and shared containers name their problems.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow.hpp>

#include <memory>
#include <string>

namespace {

// Counts its runs in the shared store and loops on "again" until it ran `times` times.
class Counter : public ptl::Node<> {
 public:
  explicit Counter(int times) : times_(times) {}

 protected:
  std::string post(ptl::Shared& s, std::monostate&, std::monostate&) override {
    const int n = s.update<int>("loops", [](int& v) { return ++v; });
    return n < times_ ? "again" : "done";
  }

 private:
  int times_;
};

TEST(FlowWiring, LoopsLiveAsLongAsTheirFlowAndAreFreedWithIt) {
  std::weak_ptr<Counter> a_watch, b_watch;
  ptl::set_warning_handler([](std::string_view) {});
  {
    // Built in a scope of its own: only the flow keeps the nodes now.
    ptl::Flow flow = [&] {
      auto a = std::make_shared<Counter>(3);
      auto b = std::make_shared<Counter>(3);
      (a - "again") >> b;
      (b - "again") >> a;  // closes the cycle
      a_watch = a;
      b_watch = b;
      return ptl::Flow(b);  // starts inside the cycle
    }();
    ASSERT_FALSE(a_watch.expired()) << "the flow does not keep its nodes";
    ptl::Shared shared;
    flow.run(shared);
    EXPECT_EQ(shared.get<int>("loops"), 3);
  }
  ptl::set_warning_handler(nullptr);
  EXPECT_TRUE(a_watch.expired()) << "a cycle of nodes was never freed";
  EXPECT_TRUE(b_watch.expired());
}

TEST(FlowWiring, WiringANodeAsABaseTypeThatWouldSliceItsCopiesIsRefused) {
  struct Base : ptl::Node<> {};
  struct Derived : Base {
    int extra = 1;
  };
  std::shared_ptr<Base> sliced = std::make_shared<Derived>();
  auto a = std::make_shared<Base>();
  EXPECT_THROW(a >> sliced, ptl::Error);
  EXPECT_THROW(ptl::Flow{sliced}, ptl::Error);
  EXPECT_THROW(a >> std::shared_ptr<Base>(), ptl::Error);
  EXPECT_FALSE(a->has_successors());
}

TEST(FlowWiring, ParamsAndSharedNameTheirProblems) {
  ptl::Params p{{"n", 7}, {"s", "text"}};
  EXPECT_EQ(p.get<std::string>("s"), "text") << "literals are kept as std::string";
  EXPECT_EQ(p.find<long>("n"), nullptr);
  try {
    (void)p.get<int>("missing");
    FAIL();
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ENOTFOUND);
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
  }
  try {
    (void)p.get<double>("n");
    FAIL();
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
  }
  EXPECT_EQ(p.merged_with({{"n", 8}}).get<int>("n"), 8);
  ptl::Shared s;
  EXPECT_EQ(s.update<int>("c", [](int& v) { return v += 2; }), 2);
  EXPECT_EQ(s.get<int>("c"), 2);
  EXPECT_TRUE(s.erase("c"));
  EXPECT_FALSE(s.contains("c"));
}

}  // namespace
