/// Every Expecto test of the planner, in one list.
module Pgmo.Planner.Tests.AllTests

open Expecto

let all =
    testList "planner" [
        CsvTests.tests
        TimeAxisTests.tests
        BoundsTests.tests
        ValidateTests.tests
        PlacementTests.tests
        GreedyTests.tests
        XlaTests.tests
        FirstFitTests.tests
        PoolTests.tests
        BestFitTests.tests
        SearchTests.tests
        TracesTests.tests
        SvgTests.tests
        OptimalTests.tests
        StrongBoundsTests.tests
        GapsTests.tests
        PropagationTests.tests
        DescentTests.tests
        CertificateTests.tests
        NetworkTracePoolTests.tests
        NetworkTracePlacementTests.tests
        ImportTests.tests
        TradeoffsTests.tests
    ]
