// Behavioural model of the ECP5 DP16KD block RAM, for the subset nitro_hw instantiates
// (nitro_hw/hw/block_ram.py): pseudo-dual-port 512 x 36 (DATA_WIDTH_A = DATA_WIDTH_B = 36),
// port A writes (WEA and CEA high, the four byte enables ADA0..ADA3 all equal), port B reads
// (WEB low, CEB high), the output register on (REGMODE_A = REGMODE_B = "OUTREG", OCEA and OCEB
// high), chip selects and resets tied low, contents and registers starting at 0.
// Word address: AD13..AD5; the read data comes out on DOA0..17 (bits 0-17) and DOB0..17
// (bits 18-35), the write data goes in on DIA0..17 and DIB0..17 (the pin use of Yosys's own
// mapping of a 36-bit pseudo-dual-port memory, share/lattice/brams_map_16kd.v).
// Timing: the word at the read address of the clock edge t is in the output register after
// edge t + 1 (read latency 2). A read of the address written at the same edge returns the old
// word (undefined on the device: the engine never consumes it, see banked_memory.py).
// Written from the primitive's port list and parameters (the Lattice simulation model is not
// open); any other configuration or control-pin use stops the simulation with an error
// instead of simulating something the model does not describe.
`default_nettype none
module DP16KD (
    input wire DIA0, DIA1, DIA2, DIA3, DIA4, DIA5, DIA6, DIA7, DIA8,
    input wire DIA9, DIA10, DIA11, DIA12, DIA13, DIA14, DIA15, DIA16, DIA17,
    input wire DIB0, DIB1, DIB2, DIB3, DIB4, DIB5, DIB6, DIB7, DIB8,
    input wire DIB9, DIB10, DIB11, DIB12, DIB13, DIB14, DIB15, DIB16, DIB17,
    input wire ADA0, ADA1, ADA2, ADA3, ADA4, ADA5, ADA6, ADA7, ADA8, ADA9, ADA10, ADA11, ADA12, ADA13,
    input wire ADB0, ADB1, ADB2, ADB3, ADB4, ADB5, ADB6, ADB7, ADB8, ADB9, ADB10, ADB11, ADB12, ADB13,
    input wire CLKA, CEA, OCEA, WEA, RSTA, CSA0, CSA1, CSA2,
    input wire CLKB, CEB, OCEB, WEB, RSTB, CSB0, CSB1, CSB2,
    output wire DOA0, DOA1, DOA2, DOA3, DOA4, DOA5, DOA6, DOA7, DOA8,
    output wire DOA9, DOA10, DOA11, DOA12, DOA13, DOA14, DOA15, DOA16, DOA17,
    output wire DOB0, DOB1, DOB2, DOB3, DOB4, DOB5, DOB6, DOB7, DOB8,
    output wire DOB9, DOB10, DOB11, DOB12, DOB13, DOB14, DOB15, DOB16, DOB17
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter GSR = "ENABLED";

    wire [35:0] din = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6,
                       DIB5, DIB4, DIB3, DIB2, DIB1, DIB0, DIA17, DIA16, DIA15, DIA14, DIA13, DIA12,
                       DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [3:0] byte_en = {ADA3, ADA2, ADA1, ADA0};
    wire [8:0] w_addr = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5};
    wire [8:0] r_addr = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5};
    wire [4:0] r_low = {ADB4, ADB3, ADB2, ADB1, ADB0};
    reg [35:0] mem [0:511];
    reg [35:0] latch;   // the array's output after a read edge
    reg [35:0] out_r;   // the output register (OUTREG)
    integer i;

    initial begin
        // procedural, not declaration, initial values: the change from x is an event at time 0,
        // so the logic reading the outputs (always @* in Yosys's Verilog) is evaluated once
        latch = 36'd0;
        out_r = 36'd0;
        for (i = 0; i < 512; i = i + 1) mem[i] = 36'd0;
        if (DATA_WIDTH_A != 36 || DATA_WIDTH_B != 36 || REGMODE_A != "OUTREG" || REGMODE_B != "OUTREG"
            || CLKAMUX != "CLKA" || CLKBMUX != "CLKB") begin
            $display("DP16KD model: only 512 x 36 pseudo-dual-port with OUTREG on both ports is modelled");
            $finish;
        end
    end

    // port A: writes
    always @(posedge CLKA) begin
        if (WEA !== 1'b1 || CEA !== 1'b1 || OCEA !== 1'b1 || RSTA !== 1'b0 || {CSA2, CSA1, CSA0} !== 3'b000
                || ADA4 !== 1'b0 || (byte_en !== 4'b0000 && byte_en !== 4'b1111)) begin
            $display("DP16KD model: unsupported port A pins (WEA=%b CEA=%b OCEA=%b RSTA=%b CS=%b AD4=%b BE=%b)",
                     WEA, CEA, OCEA, RSTA, {CSA2, CSA1, CSA0}, ADA4, byte_en);
            $finish;
        end
        if (byte_en == 4'b1111) mem[w_addr] <= din;
    end

    // port B: reads into the output register
    always @(posedge CLKB) begin
        if (WEB !== 1'b0 || CEB !== 1'b1 || OCEB !== 1'b1 || RSTB !== 1'b0 || {CSB2, CSB1, CSB0} !== 3'b000
                || r_low !== 5'b00000) begin
            $display("DP16KD model: unsupported port B pins (WEB=%b CEB=%b OCEB=%b RSTB=%b CS=%b AD4..0=%b)",
                     WEB, CEB, OCEB, RSTB, {CSB2, CSB1, CSB0}, r_low);
            $finish;
        end
        latch <= mem[r_addr];
        out_r <= latch;
    end

    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6,
            DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = out_r[17:0];
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6,
            DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = out_r[35:18];
endmodule
`default_nettype wire
