// Behavioural model of the iCE40 UP SB_SPRAM256KA (16 K x 16 single-port RAM), for the subset
// nitro_hw instantiates (nitro_hw/hw/single_port_ram.py): CHIPSELECT high, MASKWREN all ones,
// STANDBY and SLEEP low, POWEROFF high (powered). A read (WREN low) puts the addressed word on
// DATAOUT after the clock edge; a write stores DATAIN and also drives it on DATAOUT (nitro_hw never
// reads DATAOUT after a write, so it does not depend on what the silicon does there). Written from
// the primitive's port list (the Lattice simulation model is not open); any other use of the
// control pins stops the simulation instead of simulating what the model does not describe.
`default_nettype none
module SB_SPRAM256KA (
    input wire [13:0] ADDRESS,
    input wire [15:0] DATAIN,
    input wire [3:0] MASKWREN,
    input wire WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF,
    output reg [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];
    initial DATAOUT = 16'h0000;
    always @(posedge CLOCK) begin
        if (CHIPSELECT !== 1'b1 || MASKWREN !== 4'b1111 || STANDBY !== 1'b0 || SLEEP !== 1'b0
                || POWEROFF !== 1'b1) begin
            $display("SB_SPRAM256KA model: unsupported control pins (CS=%b MASK=%b STBY=%b SLP=%b PWROFF=%b)",
                     CHIPSELECT, MASKWREN, STANDBY, SLEEP, POWEROFF);
            $finish;
        end
        if (WREN) begin
            mem[ADDRESS] <= DATAIN;
            DATAOUT <= DATAIN;
        end else begin
            DATAOUT <= mem[ADDRESS];
        end
    end
endmodule
`default_nettype wire
