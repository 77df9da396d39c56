"""The concurrent_groups pass (text in, text out) and the memory plan it implies."""
from textwrap import dedent

import pytest

import hybrid as hb
from hybrid.passes import MemoryPlanError, check_memory_plan
from hybrid.passes.concurrent_groups import group_mark, regions, team_split

from conftest import ir

CONV = "{stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1}"
CONV3 = "{stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1}"


def test_inception_branches_become_groups_scheduled_one_after_another(rewrite):
    # the traced order interleaves the branches; each branch becomes one contiguous group
    rewrite(["concurrent_groups"], f"""
        graph @inception(%x: f32[1,4,8,8], %w1: f32[4,4,1,1], %w2: f32[2,4,1,1], %w3: f32[4,2,3,3], %w4: f32[4,4,1,1]) -> f32[1,12,8,8] {{
          %0 = conv2d(%x, %w1) {CONV} : f32[1,4,8,8]
          %1 = conv2d(%x, %w2) {CONV} : f32[1,2,8,8]
          %2 = max_pool2d(%x) {{kernel=[3, 3], stride=[1, 1], padding=[1, 1]}} : f32[1,4,8,8]
          %3 = relu(%1) : f32[1,2,8,8]
          %4 = conv2d(%3, %w3) {CONV3} : f32[1,4,8,8]
          %5 = conv2d(%2, %w4) {CONV} : f32[1,4,8,8]
          %6 = concat(%0, %4, %5) {{axis=1}} : f32[1,12,8,8]
          return %6
        }}
    """, f"""
        graph @inception(%x: f32[1,4,8,8], %w1: f32[4,4,1,1], %w2: f32[2,4,1,1], %w3: f32[4,2,3,3], %w4: f32[4,4,1,1]) -> f32[1,12,8,8] {{
          %0 = conv2d(%x, %w1) {CONV} : f32[1,4,8,8]  #  | group c0.0/3
          %1 = conv2d(%x, %w2) {CONV} : f32[1,2,8,8]  #  | group c0.1/3
          %2 = relu(%1) : f32[1,2,8,8]  #  | group c0.1/3
          %3 = conv2d(%2, %w3) {CONV3} : f32[1,4,8,8]  #  | group c0.1/3
          %4 = max_pool2d(%x) {{kernel=[3, 3], stride=[1, 1], padding=[1, 1]}} : f32[1,4,8,8]  #  | group c0.2/3
          %5 = conv2d(%4, %w4) {CONV} : f32[1,4,8,8]  #  | group c0.2/3
          %6 = concat(%0, %3, %5) {{axis=1}} : f32[1,12,8,8]
          return %6
        }}
    """)


RESIDUAL = f"""
    graph @residual(%x: f32[1,4,8,8], %w1: f32[4,4,3,3], %w2: f32[4,4,3,3], %wd: f32[4,4,1,1]) -> f32[1,4,8,8] {{
      %0 = exp(%x) : f32[1,4,8,8]
      %1 = conv2d(%0, %w1) {CONV3} : f32[1,4,8,8]
      %2 = relu(%1) : f32[1,4,8,8]
      %3 = conv2d(%2, %w2) {CONV3} : f32[1,4,8,8]
      %4 = conv2d(%0, %wd) {CONV} : f32[1,4,8,8]
      %5 = add(%3, %4) : f32[1,4,8,8]
      %6 = relu(%5) : f32[1,4,8,8]
      %7 = conv2d(%6, %w1) {CONV3} : f32[1,4,8,8]
      %8 = add(%7, %6) : f32[1,4,8,8]
      return %8
    }}
"""


def test_residual_block_main_path_and_downsample_are_groups_identity_shortcut_is_not(rewrite):
    # block 1 (%1-%5): the 3x3 path and the 1x1 downsample are independent; block 2 (%7, %8) adds
    # its input itself: one path only, nothing to run beside it
    graph = rewrite(["concurrent_groups", "memory_plan"], RESIDUAL, f"""
        graph @residual(%x: f32[1,4,8,8], %w1: f32[4,4,3,3], %w2: f32[4,4,3,3], %wd: f32[4,4,1,1]) -> f32[1,4,8,8] {{
          %0 = exp(%x) : f32[1,4,8,8]  #  | %0 -> b0 @0 (1.0 KB)
          %1 = conv2d(%0, %w1) {CONV3} : f32[1,4,8,8]  #  | group c0.0/2 | %1 -> b1 @1024 (1.0 KB)
          %2 = relu(%1) : f32[1,4,8,8]  #  | group c0.0/2 | %2 -> b1 @1024 (1.0 KB) in place of %1
          %3 = conv2d(%2, %w2) {CONV3} : f32[1,4,8,8]  #  | group c0.0/2 | %3 -> b2 @2048 (1.0 KB)
          %4 = conv2d(%0, %wd) {CONV} : f32[1,4,8,8]  #  | group c0.1/2 | %4 -> b3 @3072 (1.0 KB)
          %5 = add(%3, %4) : f32[1,4,8,8]  #  | %5 -> b2 @2048 (1.0 KB) in place of %3
          %6 = relu(%5) : f32[1,4,8,8]  #  | %6 -> b2 @2048 (1.0 KB) in place of %5
          %7 = conv2d(%6, %w1) {CONV3} : f32[1,4,8,8]  #  | %7 -> b0 @0 (1.0 KB)
          %8 = add(%7, %6) : f32[1,4,8,8]  #  | %8 -> b0 @0 (1.0 KB) in place of %7
          return %8
        }}
    """)
    # the marks and the plan are part of the text form and parse back
    assert str(hb.ir.parse(str(graph))) == str(graph)
    assert regions(graph) == [[[1, 2, 3], [4]]]
    assert group_mark(graph.nodes[4]).group == 1 and group_mark(graph.nodes[5]) is None


TWO_CHAINS = """
    graph @f(%x: f32[8,8]) -> f32[8,8] {
      %0 = exp(%x) : f32[8,8]
      %1 = transpose(%0) {perm=[1, 0]} : f32[8,8]
      %2 = tanh(%x) : f32[8,8]
      %3 = transpose(%2) {perm=[1, 0]} : f32[8,8]
      %4 = add(%1, %3) : f32[8,8]
      return %4
    }
"""


def test_buffers_of_concurrent_groups_never_share_bytes(rewrite):
    # in order, %2 reuses %0's bytes (%0 died at %1); the groups may run at the same time, so not there
    rewrite(["memory_plan"], TWO_CHAINS, """
        graph @f(%x: f32[8,8]) -> f32[8,8] {
          %0 = exp(%x) : f32[8,8]  #  | %0 -> b0 @0 (256 B)
          %1 = transpose(%0) {perm=[1, 0]} : f32[8,8]  #  | %1 -> b1 @256 (256 B)
          %2 = tanh(%x) : f32[8,8]  #  | %2 -> b0 @0 (256 B)
          %3 = transpose(%2) {perm=[1, 0]} : f32[8,8]  #  | %3 -> b2 @512 (256 B)
          %4 = add(%1, %3) : f32[8,8]  #  | %4 -> b1 @256 (256 B) in place of %1
          return %4
        }
    """)
    graph = rewrite(["concurrent_groups", "memory_plan"], TWO_CHAINS, """
        graph @f(%x: f32[8,8]) -> f32[8,8] {
          %0 = exp(%x) : f32[8,8]  #  | group c0.0/2 | %0 -> b0 @0 (256 B)
          %1 = transpose(%0) {perm=[1, 0]} : f32[8,8]  #  | group c0.0/2 | %1 -> b1 @256 (256 B)
          %2 = tanh(%x) : f32[8,8]  #  | group c0.1/2 | %2 -> b3 @768 (256 B)
          %3 = transpose(%2) {perm=[1, 0]} : f32[8,8]  #  | group c0.1/2 | %3 -> b2 @512 (256 B)
          %4 = add(%1, %3) : f32[8,8]  #  | %4 -> b1 @256 (256 B) in place of %1
          return %4
        }
    """)
    # the in-order plan under the group marks is caught: the checker knows the groups may overlap in time
    text = str(graph).replace("%2 -> b3 @768", "%2 -> b0 @0")
    with pytest.raises(MemoryPlanError, match="%0 .group 0 of concurrent region 0.* overlaps %2 .group 1"):
        check_memory_plan(hb.ir.parse(text))


def test_a_value_read_by_a_group_stays_live_across_the_region():
    # %0 dies at group 1's %4 in order, but group 1 may run first: nothing of group 0 may take its bytes
    graph = hb.passes.run(ir(RESIDUAL), ["concurrent_groups", "memory_plan"])
    plan = graph.memory_plan
    assert (plan.slot(0).start, plan.slot(0).end) == (0, 4)
    region = {plan.slot(i).offset for i in (1, 2, 3, 4)}
    assert plan.slot(0).offset not in region


def test_nested_forks_the_inner_region_is_kept_and_the_outer_join_does_not_split_it(rewrite):
    # %3 joins two branches of %x; %5 joins %3 with a third branch whose groups would hold the first region
    rewrite(["concurrent_groups"], """
        graph @f(%x: f32[16]) -> f32[16] {
          %0 = exp(%x) : f32[16]
          %1 = tanh(%x) : f32[16]
          %2 = sin(%x) : f32[16]
          %3 = add(%0, %1) : f32[16]
          %4 = neg(%2) : f32[16]
          %5 = mul(%3, %4) : f32[16]
          return %5
        }
    """, """
        graph @f(%x: f32[16]) -> f32[16] {
          %0 = exp(%x) : f32[16]  #  | group c0.0/2
          %1 = tanh(%x) : f32[16]  #  | group c0.1/2
          %2 = sin(%x) : f32[16]
          %3 = add(%0, %1) : f32[16]
          %4 = neg(%2) : f32[16]
          %5 = mul(%3, %4) : f32[16]
          return %5
        }
    """)


def test_a_chain_has_no_groups_and_marks_are_recomputed(rewrite):
    text = """
        graph @f(%x: f32[16]) -> f32[16] {
          %0 = exp(%x) : f32[16]
          %1 = tanh(%0) : f32[16]
          %2 = add(%1, %0) : f32[16]
          return %2
        }
    """
    rewrite(["concurrent_groups"], text, text)
    stale = ir(text)
    stale.nodes[1].meta["group"] = "c0.0/2"      # a mark left by an earlier run is dropped
    assert regions(hb.passes.run(stale, ["concurrent_groups"])) == []


def test_team_split_gives_each_group_a_share_of_the_threads():
    # more groups than threads: each thread a team, heaviest group first to the least loaded team
    assert team_split([10, 40, 20, 30], 2) == ([0, 0, 1, 1], [1, 1])
    # fewer groups than threads: one team per group, threads in proportion to the work (at least one each)
    assert team_split([900, 100], 8) == ([0, 1], [7, 1])
    assert team_split([1, 1, 1], 4) == ([0, 1, 2], [2, 1, 1])
    assert team_split([5, 5], 2) == ([0, 1], [1, 1])


def test_compiled_graphs_keep_their_results_with_groups(rewrite):
    # the fixture runs the rewritten graph on the interp backend against the original
    graph = hb.passes.run(ir(RESIDUAL), ["fuse", "concurrent_groups", "memory_plan"])
    assert len(regions(graph)) == 1
    check_memory_plan(graph)
    assert dedent(str(graph)).count("group c0.") == 2


def test_a_region_that_would_have_to_come_before_and_after_another_is_dropped(rewrite):
    # the first join makes {exp} and {cos} a region; the second would make {neg} and {sin} one, but neg reads
    # exp and cos reads sin: as two blocks each would have to run before the other (it once lost nodes)
    rewrite(["concurrent_groups"], """
        graph @f(%x: f32[16]) -> f32[48] {
          %0 = exp(%x) : f32[16]
          %1 = sin(%x) : f32[16]
          %2 = neg(%0) : f32[16]
          %3 = cos(%1) : f32[16]
          %4 = concat(%0, %3, %1) {axis=0} : f32[48]
          %5 = concat(%2, %1, %0) {axis=0} : f32[48]
          %6 = add(%4, %5) : f32[48]
          return %6
        }
    """, """
        graph @f(%x: f32[16]) -> f32[48] {
          %0 = sin(%x) : f32[16]
          %1 = exp(%x) : f32[16]  #  | group c0.0/2
          %2 = cos(%0) : f32[16]  #  | group c0.1/2
          %3 = neg(%1) : f32[16]
          %4 = concat(%1, %2, %0) {axis=0} : f32[48]
          %5 = concat(%3, %0, %1) {axis=0} : f32[48]
          %6 = add(%4, %5) : f32[48]
          return %6
        }
    """)
